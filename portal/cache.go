package portal

import (
	"context"
	"sync"
	"time"
)

// CacheConfig configures a CachedStore. Zero values take the defaults.
type CacheConfig struct {
	// TTL bounds how long an entry is used without asking the store again;
	// default 5 minutes. Revocation does not wait for it: see CachedStore.
	TTL time.Duration
	// MaxUsers bounds the users whose sessions and SIMs are cached;
	// default 100,000 (a few hundred bytes each).
	MaxUsers int
	Now      func() time.Time
}

// maxOwnsPerUser bounds the ownership answers cached per user, so a caller
// trying ICCIDs that are not theirs cannot grow the cache.
const maxOwnsPerUser = 64

// maxSessionsPerUser bounds the sessions cached per user, the oldest cached
// forgotten first. Every login opens a session, and a user is forgotten
// only when one of theirs changes or is swept (SessionTTL after a login), so
// a client that logs in on every run would otherwise add a cached session
// (some 500 bytes) per run for a month.
const maxSessionsPerUser = 16

// CachedStore is a Store that answers Session and OwnsSIM, the two reads
// of every authenticated request, from memory.
//
// It is correct only while something tells it about changes made through
// other processes: ForgetUser for each user whose sessions, profile or
// SIMs changed (portal/postgres.FollowUsers, on notifications sent by
// triggers when the change commits), ForgetAll and SetLive(false) when
// those notifications may have been lost. Until SetLive(true) it answers
// nothing from memory. Changes made through the CachedStore itself
// (logout, password change or reset, claiming or releasing a SIM, profile)
// forget the user before the method returns, so they take effect at once
// in this process; in other processes they take effect when the
// notification arrives.
type CachedStore struct {
	Store
	cfg CacheConfig

	mu    sync.Mutex
	live  bool
	epoch uint64 // bumped by every forget: a read that began before it is not cached
	sess  map[[32]byte]*cachedSession
	users map[int64]*cachedUser
}

var _ Store = (*CachedStore)(nil)

type cachedSession struct {
	sess Session
	user User
	at   time.Time
}

type cachedUser struct {
	tokens [][32]byte // cached sessions of the user
	owns   map[string]cachedOwns
}

type cachedOwns struct {
	ok bool
	at time.Time
}

// NewCachedStore returns a cache in front of s; it answers from memory
// only after SetLive(true).
func NewCachedStore(s Store, cfg CacheConfig) *CachedStore {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CachedStore{Store: s, cfg: cfg, sess: map[[32]byte]*cachedSession{}, users: map[int64]*cachedUser{}}
}

// SetLive turns answering from memory on or off; off forgets everything.
func (c *CachedStore) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	if !live {
		c.forgetAllLocked()
	}
}

// ForgetAll drops every entry.
func (c *CachedStore) ForgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetAllLocked()
}

func (c *CachedStore) forgetAllLocked() {
	c.epoch++
	clear(c.sess)
	clear(c.users)
}

// ForgetUser drops the sessions and SIM ownership cached for user.
func (c *CachedStore) ForgetUser(user int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if u := c.users[user]; u != nil {
		for _, t := range u.tokens {
			delete(c.sess, t)
		}
		delete(c.users, user)
	}
}

// Session answers from memory a session read within the TTL that has not
// expired at now; otherwise from the store. Failures are not cached.
func (c *CachedStore) Session(ctx context.Context, hash []byte, now time.Time) (Session, User, error) {
	var key [32]byte
	cacheable := len(hash) == len(key)
	copy(key[:], hash)
	c.mu.Lock()
	live, epoch := c.live, c.epoch
	if e := c.sess[key]; live && cacheable && e != nil && now.Before(e.sess.ExpiresAt) && c.cfg.Now().Sub(e.at) < c.cfg.TTL {
		s, u := e.sess, e.user
		c.mu.Unlock()
		return s, u, nil
	}
	c.mu.Unlock()
	s, u, err := c.Store.Session(ctx, hash, now)
	if err != nil || !live || !cacheable {
		return s, u, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.epoch == epoch {
		cu := c.userLocked(u.ID)
		if _, seen := c.sess[key]; !seen {
			if len(cu.tokens) >= maxSessionsPerUser { // forget the oldest
				delete(c.sess, cu.tokens[0])
				cu.tokens = append(cu.tokens[:0], cu.tokens[1:]...)
			}
			cu.tokens = append(cu.tokens, key)
		}
		c.sess[key] = &cachedSession{sess: s, user: u, at: c.cfg.Now()}
	}
	return s, u, nil
}

// userLocked returns user's entry, making room for it when it is new.
func (c *CachedStore) userLocked(user int64) *cachedUser {
	if u := c.users[user]; u != nil {
		return u
	}
	for id, u := range c.users { // map order is random: evict an arbitrary user
		if len(c.users) < c.cfg.MaxUsers {
			break
		}
		for _, t := range u.tokens {
			delete(c.sess, t)
		}
		delete(c.users, id)
	}
	u := &cachedUser{owns: map[string]cachedOwns{}}
	c.users[user] = u
	return u
}

// OwnsSIM answers from memory an answer read within the TTL; otherwise
// from the store.
func (c *CachedStore) OwnsSIM(ctx context.Context, user int64, iccid string) (bool, error) {
	c.mu.Lock()
	live, epoch := c.live, c.epoch
	if u := c.users[user]; live && u != nil {
		if o, ok := u.owns[iccid]; ok && c.cfg.Now().Sub(o.at) < c.cfg.TTL {
			c.mu.Unlock()
			return o.ok, nil
		}
	}
	c.mu.Unlock()
	ok, err := c.Store.OwnsSIM(ctx, user, iccid)
	if err != nil || !live {
		return ok, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.epoch == epoch {
		if u := c.userLocked(user); len(u.owns) < maxOwnsPerUser {
			u.owns[iccid] = cachedOwns{ok: ok, at: c.cfg.Now()}
		}
	}
	return ok, nil
}

// The writes below forget what they change once the store has it, so the
// change holds in this process when the method returns.

// DeleteSession deletes the session with token hash and forgets it.
func (c *CachedStore) DeleteSession(ctx context.Context, hash []byte) error {
	err := c.Store.DeleteSession(ctx, hash)
	var key [32]byte
	copy(key[:], hash)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if e := c.sess[key]; e != nil {
		delete(c.sess, key)
		if u := c.users[e.user.ID]; u != nil {
			delete(c.users, e.user.ID) // its token list still names the session
			for _, t := range u.tokens {
				delete(c.sess, t)
			}
		}
	}
	return err
}

// SetPassword sets the password, ends the user's other sessions and
// forgets the user.
func (c *CachedStore) SetPassword(ctx context.Context, id int64, hash string, keep []byte) error {
	defer c.ForgetUser(id)
	return c.Store.SetPassword(ctx, id, hash, keep)
}

// ResetPassword resets the password, ends every session of the user and
// forgets the user.
func (c *CachedStore) ResetPassword(ctx context.Context, tokenHash []byte, passwordHash string, now time.Time) (int64, error) {
	id, err := c.Store.ResetPassword(ctx, tokenHash, passwordHash, now)
	if err == nil {
		c.ForgetUser(id)
	}
	return id, err
}

// UpdateProfile changes the profile and forgets the user, whose sessions
// carry it.
func (c *CachedStore) UpdateProfile(ctx context.Context, id int64, ch ProfileChange) (User, error) {
	defer c.ForgetUser(id)
	return c.Store.UpdateProfile(ctx, id, ch)
}

// ConfirmEmail changes the email and forgets the user.
func (c *CachedStore) ConfirmEmail(ctx context.Context, tokenHash []byte, now time.Time) (User, error) {
	u, err := c.Store.ConfirmEmail(ctx, tokenHash, now)
	if err == nil {
		c.ForgetUser(u.ID)
	}
	return u, err
}

// ClaimSIM claims the SIM and forgets the user's ownership answers.
func (c *CachedStore) ClaimSIM(ctx context.Context, user int64, iccid string) error {
	defer c.ForgetUser(user)
	return c.Store.ClaimSIM(ctx, user, iccid)
}

// ReleaseSIM releases the SIM and forgets the user's ownership answers.
func (c *CachedStore) ReleaseSIM(ctx context.Context, user int64, iccid string) error {
	defer c.ForgetUser(user)
	return c.Store.ReleaseSIM(ctx, user, iccid)
}
