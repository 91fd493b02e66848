package smpp

import "github.com/prometheus/client_golang/prometheus"

// Submit outcomes, a fixed label set.
const (
	outcomeOK           = "ok"
	outcomeRejected     = "rejected"     // permanent status
	outcomeThrottled    = "throttled"    // ESME_RTHROTTLED, ESME_RMSGQFUL
	outcomeError        = "error"        // other transient status
	outcomeTimeout      = "timeout"      // no answer within RespTimeout
	outcomeDisconnected = "disconnected" // no session, or lost before the answer
	outcomeCanceled     = "canceled"     // the caller gave up before sending
)

// Receipt states as labels: the SMPP 3.4 Appendix B set, and "other".
var receiptStates = []string{"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE", "other"}

type metrics struct {
	submits      *prometheus.CounterVec // outcome
	latency      prometheus.Histogram
	receipts     *prometheus.CounterVec // state
	uncorrelated prometheus.Counter
	deferred     prometheus.Counter
	delivers     *prometheus.CounterVec // kind: receipt, mo, malformed
	windowInUse  prometheus.Gauge
	windowSize   prometheus.Gauge
	rateLimit    prometheus.Gauge
	binds        *prometheus.CounterVec // type, outcome
	reconnects   *prometheus.CounterVec // type
	sessionUp    *prometheus.GaugeVec   // type
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smpp_submits_total",
			Help: "submit_sm sent (one per message part), by outcome.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "simcore_smpp_submit_duration_seconds",
			Help:    "Time from writing a submit_sm to its answer (or timeout, or session loss).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smpp_receipts_total",
			Help: "Delivery receipts received, by state (stat or message_state).",
		}, []string{"state"}),
		uncorrelated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simcore_smpp_receipts_uncorrelated_total",
			Help: "Delivery receipts whose message id matched no id this process submitted (sent before a restart, or evicted).",
		}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simcore_smpp_receipts_deferred_total",
			Help: "Delivery receipts answered with ESME_RX_T_APPN so that the SMSC delivers them again: their message id was not recorded yet, or recording failed.",
		}),
		delivers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smpp_deliver_sm_total",
			Help: "deliver_sm received, by kind: receipt, mo (mobile-originated, not handled) or malformed.",
		}, []string{"kind"}),
		windowInUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simcore_smpp_window_in_use",
			Help: "submit_sm outstanding (sent or about to be, not yet answered).",
		}),
		windowSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simcore_smpp_window_size",
			Help: "Configured most submit_sm outstanding at once.",
		}),
		rateLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simcore_smpp_rate_limit_submits_per_second",
			Help: "Configured most submit_sm per second; 0 means unlimited.",
		}),
		binds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smpp_binds_total",
			Help: "Bind attempts, by session type and outcome (ok, refused by the SMSC, error).",
		}, []string{"type", "outcome"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smpp_reconnects_total",
			Help: "Sessions lost and re-established (attempts counted in binds), by session type.",
		}, []string{"type"}),
		sessionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "simcore_smpp_session_up",
			Help: "1 while the session of this type is bound.",
		}, []string{"type"}),
	}
	for _, o := range []string{outcomeOK, outcomeRejected, outcomeThrottled, outcomeError, outcomeTimeout, outcomeDisconnected, outcomeCanceled} {
		m.submits.WithLabelValues(o)
	}
	for _, s := range receiptStates {
		m.receipts.WithLabelValues(s)
	}
	for _, k := range []string{"receipt", "mo", "malformed"} {
		m.delivers.WithLabelValues(k)
	}
	for _, t := range []string{kindTransmitter, kindReceiver} {
		for _, o := range []string{"ok", "refused", "error"} {
			m.binds.WithLabelValues(t, o)
		}
		m.reconnects.WithLabelValues(t)
		m.sessionUp.WithLabelValues(t)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.submits, m.latency, m.receipts, m.uncorrelated, m.deferred, m.delivers,
			m.windowInUse, m.windowSize, m.rateLimit, m.binds, m.reconnects, m.sessionUp} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// stateLabel maps a receipt state to its label.
func stateLabel(state string) string {
	for _, s := range receiptStates[:len(receiptStates)-1] {
		if s == state {
			return s
		}
	}
	return "other"
}
