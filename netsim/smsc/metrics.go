package smsc

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	submits     *prometheus.CounterVec // outcome
	binds       *prometheus.CounterVec // type, outcome
	receipts    *prometheus.CounterVec // outcome
	sessions    prometheus.Gauge
	outstanding prometheus.Gauge
}

// Label values, fixed sets.
const (
	outcomeAccepted = "accepted"
	outcomeRejected = "rejected" // permanent error status
	outcomeFailed   = "failed"   // transient error status
	outcomeInvalid  = "invalid"  // undecodable or out of bind state
	outcomeOK       = "ok"
	outcomeRefused  = "refused"
	receiptSent     = "sent"
	receiptAcked    = "acked"
	receiptRequeued = "requeued"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smsc_submits_total",
			Help: "submit_sm received by the simulator, by outcome.",
		}, []string{"outcome"}),
		binds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smsc_binds_total",
			Help: "Bind requests, by bind type and outcome.",
		}, []string{"type", "outcome"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_smsc_receipts_total",
			Help: "Delivery receipts sent as deliver_sm, acknowledged, or requeued (lost session or error response).",
		}, []string{"outcome"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simcore_smsc_sessions",
			Help: "Open SMPP connections.",
		}),
		outstanding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simcore_smsc_outstanding_submits",
			Help: "submit_sm received and not yet answered.",
		}),
	}
	for _, o := range []string{outcomeAccepted, outcomeRejected, outcomeFailed, outcomeInvalid} {
		m.submits.WithLabelValues(o)
	}
	for _, t := range []string{bindTransmitter, bindReceiver, bindTransceiver} {
		for _, o := range []string{outcomeOK, outcomeRefused} {
			m.binds.WithLabelValues(t, o)
		}
	}
	for _, o := range []string{receiptSent, receiptAcked, receiptRequeued} {
		m.receipts.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.submits, m.binds, m.receipts, m.sessions, m.outstanding} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
