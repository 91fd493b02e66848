package rater

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batches, rerated, errors prometheus.Counter
	unrated                  *prometheus.CounterVec
	alerts, barring          *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "simcore_rating_batches_total",
			Help: "Usage batches rated."}),
		rerated: prometheus.NewCounter(prometheus.CounterOpts{Name: "simcore_rating_sims_rated_total",
			Help: "SIMs whose charges were recomputed (one per SIM per catch-up)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "simcore_rating_errors_total",
			Help: "Rating rounds that failed and will be retried."}),
		unrated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "simcore_rating_unrated_sims_total",
			Help: "SIMs with new usage that could not be rated, by reason (no_subscription, plan_not_in_catalogue, no_catalogue)."}, []string{"reason"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "simcore_rating_alerts_total",
			Help: "Threshold alerts fired, by kind."}, []string{"kind"}),
		barring: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "simcore_rating_barring_requests_total",
			Help: "Barring requests made, by bar (data, outgoing) and action (bar, unbar)."}, []string{"bar", "action"}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.rerated, m.errors, m.unrated, m.alerts, m.barring)
	}
	return m
}
