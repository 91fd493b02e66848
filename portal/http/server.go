package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/provisioning"
)

// Lines reads subscriptions, inventory SIMs and provisioning requests
// (provisioning/postgres.Store).
type Lines interface {
	// SubscriptionsOnSIMs returns the subscriptions on any of iccids.
	SubscriptionsOnSIMs(ctx context.Context, iccids []string) ([]provisioning.Subscription, error)
	// Subscription returns one; provisioning.ErrSubscriptionNotFound.
	Subscription(ctx context.Context, id int64) (provisioning.Subscription, error)
	// Request returns one; provisioning.ErrRequestNotFound.
	Request(ctx context.Context, id string) (provisioning.Request, error)
	// ListRequests returns a subscription's latest requests.
	ListRequests(ctx context.Context, subscriptionID int64, limit int) ([]provisioning.Request, error)
	// SIM returns an inventory SIM; provisioning.ErrSIMNotFound.
	SIM(ctx context.Context, iccid string) (provisioning.SIM, error)
}

// Submitter records provisioning requests (provisioning.Service).
type Submitter interface {
	Submit(ctx context.Context, sub int64, kind provisioning.Kind, params json.RawMessage, by string) (provisioning.Request, error)
}

// UsageReader answers usage queries (metering/clickhouse.Reader).
type UsageReader interface {
	Usage(ctx context.Context, q metering.UsageQuery) (metering.Usage, error)
	Sessions(ctx context.Context, q metering.SessionQuery) (metering.SessionPage, error)
}

// DefaultMaxBody bounds request bodies when Config.MaxBody is zero.
const DefaultMaxBody = 64 << 10

// Config configures a Server.
type Config struct {
	Accounts *portal.Accounts
	Cards    portal.CardVerifier
	Lines    Lines
	Submit   Submitter
	Usage    UsageReader
	Balances Balances
	Log      *slog.Logger
	// Registry receives the request metrics; nil registers nothing.
	Registry prometheus.Registerer
	// MaxBody bounds a request body in bytes; default DefaultMaxBody.
	MaxBody int64
	// InsecureCookies drops the Secure attribute from cookies, for a
	// portal served over plain HTTP on loopback during development.
	InsecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client that rate limits count against; none by default.
	TrustedProxies TrustedProxies
}

// Validate checks cfg.
func (c Config) Validate() error {
	switch {
	case c.Accounts == nil:
		return errors.New("portal http: no accounts")
	case c.Cards == nil:
		return errors.New("portal http: no card verifier")
	case c.Lines == nil:
		return errors.New("portal http: no lines")
	case c.Submit == nil:
		return errors.New("portal http: no submitter")
	case c.Usage == nil:
		return errors.New("portal http: no usage reader")
	case c.Balances == nil:
		return errors.New("portal http: no balances")
	case c.Log == nil:
		return errors.New("portal http: no logger")
	case c.MaxBody < 0:
		return errors.New("portal http: negative max body")
	case !c.TrustedProxies.valid():
		return errors.New("portal http: invalid trusted proxy prefix")
	}
	return nil
}

// Server is the portal API; it is an http.Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	routes  []string
	openapi []byte // the OpenAPI document as JSON
}

// New returns the API for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	doc, err := OpenAPIJSON()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), metrics: m, openapi: doc}
	s.routesSetup()
	return s, nil
}

// Routes lists the patterns the API serves, "METHOD /path/{param}".
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// handlerFunc is a handler that returns its error for writeProblem.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// authedFunc is a handler for a logged-in caller.
type authedFunc func(w http.ResponseWriter, r *http.Request, me *caller) error

// public registers a route anyone may call.
func (s *Server) public(pattern string, h handlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeProblem(w, r, err)
		}
	})
}

// authed registers a route for logged-in callers; cookie-authenticated
// unsafe methods must also carry the session's CSRF token.
func (s *Server) authed(pattern string, h authedFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		me, err := s.authenticate(r)
		if err == nil {
			err = h(w, r, me)
		}
		if err != nil {
			writeProblem(w, r, err)
		}
	})
}

func (s *Server) routesSetup() {
	s.public("GET /v1/openapi.json", s.getOpenAPI)

	s.public("POST /v1/auth/register", s.registerUser)
	s.public("POST /v1/auth/login", s.login)
	s.authed("POST /v1/auth/logout", s.logout)
	s.public("POST /v1/auth/password/forgot", s.forgotPassword)
	s.public("POST /v1/auth/password/reset", s.resetPassword)
	s.public("POST /v1/auth/email/verify", s.verifyEmail)

	s.authed("GET /v1/me", s.getMe)
	s.authed("PATCH /v1/me", s.patchMe)
	s.authed("PUT /v1/me/password", s.changePassword)
	s.authed("POST /v1/me/email", s.changeEmail)

	s.authed("GET /v1/sims", s.listSIMs)
	s.authed("POST /v1/sims", s.addSIM)
	s.authed("GET /v1/sims/{iccid}", s.getSIM)
	s.authed("DELETE /v1/sims/{iccid}", s.removeSIM)
	s.authed("GET /v1/sims/{iccid}/usage", s.simUsage)
	s.authed("GET /v1/sims/{iccid}/sessions", s.simSessions)
	s.authed("GET /v1/sims/{iccid}/balance", s.simBalance)
	s.authed("POST /v1/sims/{iccid}/topups", s.topUp)

	s.authed("GET /v1/subscriptions", s.listSubscriptions)
	s.authed("GET /v1/subscriptions/{id}", s.getSubscription)
	s.authed("GET /v1/subscriptions/{id}/requests", s.listRequests)
	s.authed("POST /v1/subscriptions/{id}/sim-swap", s.simSwap)
	s.authed("PUT /v1/subscriptions/{id}/voicemail", s.setVoicemail)
	s.authed("PUT /v1/subscriptions/{id}/forwarding/{condition}", s.setForwarding)
	s.authed("DELETE /v1/subscriptions/{id}/forwarding/{condition}", s.cancelForwarding)
	s.authed("POST /v1/subscriptions/{id}/apn-settings", s.sendAPNSettings)
	s.authed("PUT /v1/subscriptions/{id}/dates", s.setDates)

	s.authed("GET /v1/requests/{id}", s.getRequest)
}

func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
	return nil
}
