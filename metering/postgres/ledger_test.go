package postgres

// The tests are in package postgres, not postgres_test, so that a test can
// reach a lease's connection and kill it the way a crashed writer would.

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// blockedFor is how long a waiting Acquire must stay blocked to count as
// blocked. It checks exclusion, not speed: a waiter that is merely slow would
// still have to be seen waiting on the lock (see waitForWaiters) first.
const blockedFor = 200 * time.Millisecond

// newDatabase returns the URL of a migrated database of the test's own.
func newDatabase(t *testing.T) string {
	t.Helper()
	return testenv.Postgres(t, "metering", MigrationsVersion(), Migrate)
}

// newPool opens a pool on url. It is closed before the database is dropped
// (t.Cleanup is LIFO and the database was registered first), and after every
// lease the test acquired has been released, since Close waits for them: a
// Close that does not return means a leaked connection.
func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			pool.Close()
		}()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			// The goroutine ends when the database drop kills the
			// leaked connection.
			t.Errorf("pool.Close did not return: %d connections are still out", pool.Stat().AcquiredConns())
		}
	})
	return pool
}

// releaseAtCleanup gives lease back when the test ends, whatever the test did
// with it: Release is safe to call again after Release or after an error.
func releaseAtCleanup(t *testing.T, lease metering.Lease) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = lease.Release(ctx)
	})
}

// acquire takes the lease on l or fails the test.
func acquire(t *testing.T, ctx context.Context, l *Ledger) metering.Lease {
	t.Helper()
	lease, err := l.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	releaseAtCleanup(t, lease)
	return lease
}

type acquireResult struct {
	lease metering.Lease
	err   error
}

// acquireAsync runs l.Acquire(ctx) in a goroutine and delivers its result on
// the returned channel. The test owns the goroutine: at cleanup its context
// is cancelled, the goroutine is waited for and any lease it got is released.
func acquireAsync(t *testing.T, ctx context.Context, l *Ledger) <-chan acquireResult {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan acquireResult, 1)
	done := make(chan struct{})
	var res acquireResult
	go func() {
		defer close(done)
		res.lease, res.err = l.Acquire(ctx)
		ch <- res
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if res.err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = res.lease.Release(ctx)
		}
	})
	return ch
}

// receive waits for an asynchronous Acquire to return.
func receive(t *testing.T, ctx context.Context, ch <-chan acquireResult) acquireResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatalf("Acquire did not return: %v", ctx.Err())
		return acquireResult{}
	}
}

// assertBlocked checks that an asynchronous Acquire is waiting for the write
// lock and does not return while it waits.
func assertBlocked(t *testing.T, ctx context.Context, observer *pgxpool.Pool, ch <-chan acquireResult) {
	t.Helper()
	waitForWaiters(t, ctx, observer, 1, ch)
	select {
	case r := <-ch:
		t.Fatalf("Acquire returned (err %v) while another writer holds the lease", r.err)
	case <-time.After(blockedFor):
	}
}

// advisoryLocks counts the write-lock entries of this database in pg_locks:
// held ones and waiting ones.
func advisoryLocks(t *testing.T, ctx context.Context, pool *pgxpool.Pool) (held, waiting int) {
	t.Helper()
	err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
		FROM pg_locks
		WHERE locktype = 'advisory'
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND (classid::bigint << 32) | objid::bigint = $1`, writeLockID).Scan(&held, &waiting)
	if err != nil {
		t.Fatalf("read pg_locks: %v", err)
	}
	return held, waiting
}

// waitForWaiters waits until n sessions are waiting for the write lock, so a
// test knows an asynchronous Acquire has reached the server and is blocked
// there rather than not yet started. It fails at once if the Acquire
// returns meanwhile.
func waitForWaiters(t *testing.T, ctx context.Context, pool *pgxpool.Pool, n int, ch <-chan acquireResult) {
	t.Helper()
	for {
		if _, waiting := advisoryLocks(t, ctx, pool); waiting == n {
			return
		}
		select {
		case r := <-ch:
			t.Fatalf("Acquire returned (err %v) instead of waiting for the write lock", r.err)
		case <-ctx.Done():
			t.Fatalf("waiting for %d sessions to wait for the write lock: %v", n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitForNoConnsOut waits until pool has handed out no connections. A
// connection that died is destroyed by the pool in the background, so the
// count drops shortly after Release, not at once.
func waitForNoConnsOut(t *testing.T, ctx context.Context, pool *pgxpool.Pool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		n := pool.Stat().AcquiredConns()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pool has %d connections out %s; want 0", n, what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	wantVersions := 0
	if err := fs.WalkDir(migrations, "migrations", func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			wantVersions++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		run  func(ctx context.Context, url string) []error
	}{
		{"twice in a row", func(ctx context.Context, url string) []error {
			return []error{Migrate(ctx, url), Migrate(ctx, url)}
		}},
		{"twice at once", func(ctx context.Context, url string) []error {
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { errs[i] = Migrate(ctx, url) })
			}
			wg.Wait()
			return errs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A database of the test's own, cloned from an empty template.
			url := testenv.Postgres(t, "metering_fresh", "empty", func(context.Context, string) error { return nil })
			ctx := testenv.Context(t, 2*time.Minute)

			for i, err := range tt.run(ctx, url) {
				if err != nil {
					t.Fatalf("Migrate #%d: %v", i+1, err)
				}
			}

			pool := newPool(t, url)
			var (
				table    *string
				versions int
			)
			if err := pool.QueryRow(ctx, "SELECT to_regclass('usage_batches')::text").Scan(&table); err != nil {
				t.Fatal(err)
			}
			if table == nil {
				t.Fatal("usage_batches does not exist after Migrate")
			}
			err := pool.QueryRow(ctx, "SELECT count(*) FROM "+VersionTable+" WHERE version_id > 0 AND is_applied").Scan(&versions)
			if err != nil {
				t.Fatal(err)
			}
			if versions != wantVersions {
				t.Errorf("%s has %d applied migrations, want %d (one per file, each once)", VersionTable, versions, wantVersions)
			}
			// And the migrated schema works.
			lease := acquire(t, ctx, NewLedger(pool))
			if _, err := lease.Begin(ctx, "w", []uint32{202401}, nil, 1); err != nil {
				t.Errorf("Begin after Migrate: %v", err)
			}
		})
	}
}

func TestLedgerBatches(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	pool := newPool(t, newDatabase(t))
	lease := acquire(t, ctx, NewLedger(pool))

	if seq, err := lease.MaxSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("MaxSeq on an empty ledger = %d, %v; want 0, nil", seq, err)
	}
	if got, err := lease.Since(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("Since(0) on an empty ledger = %v, %v; want none", got, err)
	}

	begins := []struct {
		writer string
		months []uint32
		rows   int
	}{
		{"ingest-a", []uint32{202401}, 10},
		{"ingest-b", []uint32{202312, 202401}, 5},
		{"ingest-a", nil, 0},
		{"ingest-c", []uint32{202402}, 1},
	}
	var seqs []uint64
	for i, b := range begins {
		seq, err := lease.Begin(ctx, b.writer, b.months, nil, b.rows)
		if err != nil {
			t.Fatalf("Begin #%d: %v", i, err)
		}
		if i > 0 && seq <= seqs[i-1] {
			t.Fatalf("Begin #%d returned seq %d after %d; want increasing", i, seq, seqs[i-1])
		}
		seqs = append(seqs, seq)
	}
	if seq, err := lease.MaxSeq(ctx); err != nil || seq != seqs[len(seqs)-1] {
		t.Fatalf("MaxSeq = %d, %v; want %d", seq, err, seqs[len(seqs)-1])
	}

	if err := lease.Commit(ctx, seqs[0]); err != nil {
		t.Fatalf("Commit(%d): %v", seqs[0], err)
	}
	if err := lease.Abort(ctx, seqs[1]); err != nil {
		t.Fatalf("Abort(%d): %v", seqs[1], err)
	}
	// A batch may be ended again (an abort after a failed commit).
	if err := lease.Abort(ctx, seqs[3]); err != nil {
		t.Fatalf("Abort(%d): %v", seqs[3], err)
	}
	if err := lease.Commit(ctx, seqs[3]); err != nil {
		t.Fatalf("Commit(%d) after Abort: %v", seqs[3], err)
	}

	all := []metering.LedgerBatch{
		{Seq: seqs[0], Writer: "ingest-a", Months: []uint32{202401}, State: "committed"},
		{Seq: seqs[1], Writer: "ingest-b", Months: []uint32{202312, 202401}, State: "aborted"},
		{Seq: seqs[2], Writer: "ingest-a", Months: nil, State: "writing"},
		{Seq: seqs[3], Writer: "ingest-c", Months: []uint32{202402}, State: "committed"},
	}
	sinceTests := []struct {
		name  string
		since uint64
		want  []metering.LedgerBatch
	}{
		{"from zero", 0, all},
		{"after the first", seqs[0], all[1:]},
		{"after the third", seqs[2], all[3:]},
		{"after the last", seqs[3], nil},
		{"beyond the last", seqs[3] + 100, nil},
	}
	for _, tt := range sinceTests {
		t.Run("Since/"+tt.name, func(t *testing.T) {
			// Not parallel: subtests share the lease, which is one connection.
			got, err := lease.Since(ctx, tt.since)
			if err != nil {
				t.Fatalf("Since(%d): %v", tt.since, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Since(%d) mismatch (-want +got):\n%s", tt.since, diff)
			}
		})
	}

	unknown := seqs[3] + 1000
	errTests := []struct {
		name string
		call func() error
	}{
		{"Commit unknown seq", func() error { return lease.Commit(ctx, unknown) }},
		{"Abort unknown seq", func() error { return lease.Abort(ctx, unknown) }},
		{"Commit seq 0", func() error { return lease.Commit(ctx, 0) }},
		{"Begin negative rows", func() error { _, err := lease.Begin(ctx, "w", []uint32{202401}, nil, -1); return err }},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, metering.ErrLedger) {
				t.Errorf("error = %v; want one wrapping metering.ErrLedger", err)
			}
		})
	}
	// Failed calls leave the ledger as it was, and the lease usable.
	if got, err := lease.Since(ctx, 0); err != nil {
		t.Fatalf("Since(0) after failed calls: %v", err)
	} else if diff := cmp.Diff(all, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ledger changed by failed calls (-want +got):\n%s", diff)
	}

	// The ledger outlives the lease: the next holder, on another pool, sees it.
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	next := acquire(t, ctx, NewLedger(newPool(t, pool.Config().ConnString())))
	got, err := next.Since(ctx, 0)
	if err != nil {
		t.Fatalf("Since(0) under the next lease: %v", err)
	}
	if diff := cmp.Diff(all, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("next holder's ledger mismatch (-want +got):\n%s", diff)
	}
}

func TestAcquireExcludes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		samePool bool
	}{
		// Two processes, each with its own pool.
		{name: "two pools", samePool: false},
		// Two goroutines of one process: each lease has its own connection,
		// so the lock must not be shared between them (it is re-entrant per
		// session).
		{name: "one pool", samePool: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testenv.Context(t, time.Minute)
			url := newDatabase(t)
			pool1 := newPool(t, url)
			pool2 := pool1
			if !tt.samePool {
				pool2 = newPool(t, url)
			}
			observer := newPool(t, url)
			l1, l2 := NewLedger(pool1), NewLedger(pool2)

			first := acquire(t, ctx, l1)
			waiter := acquireAsync(t, ctx, l2)
			assertBlocked(t, ctx, observer, waiter)

			// The holder works while the other waits.
			seq, err := first.Begin(ctx, "first", []uint32{202401}, []string{"89441000000000000018"}, 3)
			if err != nil {
				t.Fatalf("Begin under the first lease: %v", err)
			}
			if err := first.Commit(ctx, seq); err != nil {
				t.Fatalf("Commit under the first lease: %v", err)
			}
			if err := first.Release(ctx); err != nil {
				t.Fatalf("Release: %v", err)
			}

			r := receive(t, ctx, waiter)
			if r.err != nil {
				t.Fatalf("Acquire after Release: %v", r.err)
			}
			second := r.lease
			got, err := second.Since(ctx, 0)
			if err != nil {
				t.Fatalf("Since under the second lease: %v", err)
			}
			want := []metering.LedgerBatch{{Seq: seq, Writer: "first", Months: []uint32{202401}, State: "committed"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("second holder's ledger mismatch (-want +got):\n%s", diff)
			}

			// And the other way round: the first ledger now waits.
			again := acquireAsync(t, ctx, l1)
			assertBlocked(t, ctx, observer, again)
			if err := second.Release(ctx); err != nil {
				t.Fatalf("Release of the second lease: %v", err)
			}
			if r := receive(t, ctx, again); r.err != nil {
				t.Fatalf("Acquire after the second Release: %v", r.err)
			} else if err := r.lease.Release(ctx); err != nil {
				t.Fatalf("Release of the third lease: %v", err)
			}

			if held, waiting := advisoryLocks(t, ctx, observer); held != 0 || waiting != 0 {
				t.Errorf("after every Release pg_locks has %d held and %d waiting write locks; want none", held, waiting)
			}
			waitForNoConnsOut(t, ctx, pool1, "after every Release")
			waitForNoConnsOut(t, ctx, pool2, "after every Release")
		})
	}
}

func TestAcquireContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctx     func(parent context.Context) (context.Context, context.CancelFunc)
		cancel  bool // cancel once the Acquire is seen waiting
		wantErr error
	}{
		{
			name:    "cancelled",
			ctx:     context.WithCancel,
			cancel:  true,
			wantErr: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(parent, 500*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "already done",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testenv.Context(t, time.Minute)
			url := newDatabase(t)
			pool1, pool2, observer := newPool(t, url), newPool(t, url), newPool(t, url)

			holder := acquire(t, ctx, NewLedger(pool1))
			waitCtx, cancel := tt.ctx(ctx)
			defer cancel()
			waiter := acquireAsync(t, waitCtx, NewLedger(pool2))
			if tt.cancel {
				waitForWaiters(t, ctx, observer, 1, waiter)
				cancel()
			}

			r := receive(t, ctx, waiter)
			if r.err == nil {
				t.Fatal("Acquire returned a lease while another writer holds it")
			}
			if !errors.Is(r.err, metering.ErrLedger) || !errors.Is(r.err, tt.wantErr) {
				t.Errorf("Acquire error = %v; want one wrapping metering.ErrLedger and %v", r.err, tt.wantErr)
			}
			waitForNoConnsOut(t, ctx, pool2, "after a failed Acquire")
			// The server stops waiting too (pgx cancels the query as it
			// closes the connection), so the abandoned waiter cannot take
			// the lock later behind the next writer's back.
			waitForWaiters(t, ctx, observer, 0, nil)

			// The holder is unaffected, and the abandoned wait leaves no
			// lock behind: once the holder releases, the next writer gets in.
			if _, err := holder.MaxSeq(ctx); err != nil {
				t.Errorf("holder's MaxSeq: %v", err)
			}
			if err := holder.Release(ctx); err != nil {
				t.Fatalf("Release: %v", err)
			}
			next := acquire(t, ctx, NewLedger(pool2))
			if err := next.Release(ctx); err != nil {
				t.Fatalf("Release of the next lease: %v", err)
			}
		})
	}
}

func TestLeaseHolderDies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kill func(t *testing.T, ctx context.Context, holder *lease, other *pgxpool.Pool)
	}{
		{
			name: "client closes its connection",
			kill: func(t *testing.T, ctx context.Context, holder *lease, _ *pgxpool.Pool) {
				if err := holder.conn.Conn().Close(ctx); err != nil {
					t.Fatalf("close the holder's connection: %v", err)
				}
			},
		},
		{
			name: "server terminates the backend",
			kill: func(t *testing.T, ctx context.Context, holder *lease, other *pgxpool.Pool) {
				pid := holder.conn.Conn().PgConn().PID()
				var ok bool
				if err := other.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&ok); err != nil || !ok {
					t.Fatalf("pg_terminate_backend(%d) = %t, %v", pid, ok, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testenv.Context(t, time.Minute)
			url := newDatabase(t)
			pool1, pool2, observer := newPool(t, url), newPool(t, url), newPool(t, url)

			held := acquire(t, ctx, NewLedger(pool1))
			waiter := acquireAsync(t, ctx, NewLedger(pool2))
			assertBlocked(t, ctx, observer, waiter)

			tt.kill(t, ctx, held.(*lease), observer)

			r := receive(t, ctx, waiter)
			if r.err != nil {
				t.Fatalf("Acquire after the holder died: %v", r.err)
			}
			if _, err := r.lease.Begin(ctx, "survivor", []uint32{202401}, nil, 1); err != nil {
				t.Errorf("Begin under the new lease: %v", err)
			}

			// The dead holder must not go on as if it still held the lease.
			if _, err := held.Begin(ctx, "dead", []uint32{202401}, nil, 1); !errors.Is(err, metering.ErrLedger) {
				t.Errorf("Begin under the dead lease = %v; want an error wrapping metering.ErrLedger", err)
			}
			if err := held.Release(ctx); err != nil && !errors.Is(err, metering.ErrLedger) {
				t.Errorf("Release of the dead lease = %v; want nil or an error wrapping metering.ErrLedger", err)
			}
			if err := held.Release(ctx); err != nil {
				t.Errorf("second Release of the dead lease = %v; want nil", err)
			}
			waitForNoConnsOut(t, ctx, pool1, "after releasing the dead lease")
			if err := r.lease.Release(ctx); err != nil {
				t.Errorf("Release of the new lease: %v", err)
			}
		})
	}
}

func TestReleaseTwice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		releaseCtx     func(context.Context) context.Context
		wantFirstError bool
	}{
		{
			name:       "live context",
			releaseCtx: func(ctx context.Context) context.Context { return ctx },
		},
		{
			// Release cannot unlock on a done context, so it closes the
			// connection and the server drops the lock with the session.
			name: "done context",
			releaseCtx: func(ctx context.Context) context.Context {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx
			},
			wantFirstError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testenv.Context(t, time.Minute)
			url := newDatabase(t)
			pool, observer := newPool(t, url), newPool(t, url)
			l := NewLedger(pool)

			first := acquire(t, ctx, l)
			err := first.Release(tt.releaseCtx(ctx))
			if gotErr := err != nil; gotErr != tt.wantFirstError {
				t.Errorf("first Release = %v; want error %t", err, tt.wantFirstError)
			}
			if err != nil && !errors.Is(err, metering.ErrLedger) {
				t.Errorf("first Release = %v; want an error wrapping metering.ErrLedger", err)
			}
			if err := first.Release(ctx); err != nil {
				t.Errorf("second Release = %v; want nil", err)
			}
			waitForNoConnsOut(t, ctx, pool, "after Release")
			// After an unlock the lock is gone from the server at once, not
			// parked on an idle pooled connection (where this pool could
			// re-enter it). After a close the server drops it when the
			// session ends, which the next Acquire waits for.
			if !tt.wantFirstError {
				if held, _ := advisoryLocks(t, ctx, observer); held != 0 {
					t.Errorf("pg_locks has %d held write locks after Release; want 0", held)
				}
			}
			// Another process gets the lease (after a close, once the
			// server has ended the session), and so does this one.
			soon, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			other := acquire(t, soon, NewLedger(observer))
			if err := other.Release(ctx); err != nil {
				t.Fatalf("Release of the other lease: %v", err)
			}
			again := acquire(t, ctx, l)
			if err := again.Release(ctx); err != nil {
				t.Fatalf("Release of the next lease: %v", err)
			}
		})
	}
}

// TestLedgerWriting: Writing lists the batches neither committed nor
// aborted, oldest first, with their months.
func TestLedgerWriting(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	pool := newPool(t, newDatabase(t))
	lease := acquire(t, ctx, NewLedger(pool))
	var seqs []uint64
	for i, months := range [][]uint32{{202401}, {202312, 202401}, {202402}, {202403}} {
		seq, err := lease.Begin(ctx, "w", months, nil, 1)
		if err != nil {
			t.Fatalf("Begin #%d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	if err := lease.Commit(ctx, seqs[0]); err != nil {
		t.Fatal(err)
	}
	if err := lease.Abort(ctx, seqs[2]); err != nil {
		t.Fatal(err)
	}
	got, err := lease.Writing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != seqs[1] || got[1].Seq != seqs[3] || len(got[0].Months) != 2 || got[1].Months[0] != 202403 || got[0].State != "writing" {
		t.Fatalf("Writing = %+v; want batches %d (two months) and %d (202403)", got, seqs[1], seqs[3])
	}
}
