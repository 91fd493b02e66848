package radius

import (
	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius/rfc2866"
)

// Label values of simcore_radius_requests_total.
const (
	typeStart         = "start"
	typeInterim       = "interim"
	typeStop          = "stop"
	typeOther         = "other_accounting" // Accounting-On/Off and the rest
	typeNotAccounting = "not_accounting"
	typeUnknown       = "unknown" // not parsed, not authenticated or from an unknown client

	outcomeAccepted         = "accepted"   // records accepted by the Sink, answered
	outcomeNoDelta          = "no_delta"   // duplicate, stale or zero update, answered
	outcomeIgnored          = "ignored"    // accounting without usage, answered
	outcomeSinkError        = "sink_error" // Sink failed, not answered
	outcomeBadAuthenticator = "bad_authenticator"
	outcomeMalformed        = "malformed"
	outcomeDropped          = "dropped"        // not an Accounting-Request
	outcomeUnknownClient    = "unknown_client" // source address of no client, not read further
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	sessions prometheus.GaugeFunc // read from the marks at each scrape
	evicted  *prometheus.CounterVec
	reused   *prometheus.CounterVec
}

// newMetrics makes the server's metrics and has m count its evictions.
func newMetrics(m *marks) metrics {
	met := metrics{
		sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "simcore_radius_sessions",
			Help: "Sessions whose high-water marks are kept (at most --radius-sessions).",
		}, func() float64 { return float64(m.len()) }),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_radius_sessions_evicted_total",
			Help: "Sessions whose high-water marks were evicted to make room (--radius-sessions), by what the session was: stopped, idle (no update for an hour: most likely a lost Stop) or active (its next update counts its usage again: raise --radius-sessions).",
		}, []string{"state"}),
		reused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_radius_sessions_reused_total",
			Help: "Updates taken for a new session with an earlier session's id (the NAS reused Acct-Session-Id), by what ended the earlier one: its stop, or its NAS's restart (Accounting-On/Off).",
		}, []string{"cause"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_radius_requests_total",
			Help: "RADIUS requests received, by accounting type and outcome.",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "simcore_radius_response_duration_seconds",
			Help:    "Time from receiving an Accounting-Request to sending its Accounting-Response.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	byState := map[string]prometheus.Counter{}
	for _, st := range []string{evictedStopped, evictedIdle, evictedActive} {
		byState[st] = met.evicted.WithLabelValues(st) // each series from the start
	}
	m.evicted = func(state string) { byState[state].Inc() }
	for _, c := range []string{reusedAfterStop, reusedAfterNASRestart} {
		met.reused.WithLabelValues(c)
	}
	return met
}

func (m metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.sessions, m.evicted, m.reused} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m metrics) count(typ, outcome string) {
	m.requests.WithLabelValues(typ, outcome).Inc()
}

func typeLabel(st rfc2866.AcctStatusType) string {
	switch st {
	case rfc2866.AcctStatusType_Value_Start:
		return typeStart
	case rfc2866.AcctStatusType_Value_InterimUpdate:
		return typeInterim
	case rfc2866.AcctStatusType_Value_Stop:
		return typeStop
	}
	return typeOther
}
