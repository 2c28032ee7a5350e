package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Playable holds the metrics of following uploads to playable and of
// hook delivery. A nil *Playable is valid: its methods do nothing.
type Playable struct {
	processing  prometheus.Gauge
	pending     prometheus.Gauge
	deadLetters prometheus.Gauge
}

// Playable registers the metrics of following and hooks beside m's.
func (m *Metrics) Playable() (*Playable, error) {
	if m == nil {
		return nil, nil
	}
	const ns = "vodwatchd"
	p := &Playable{
		processing: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "jobs_processing",
			Help: "Done jobs whose VOD procedure is still processing (followed to ready or processing_failed)."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "hook_deliveries_pending",
			Help: "Hook deliveries (webhook or exec) in the outbox, waiting for their first or next attempt."}),
		deadLetters: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "hook_dead_letters",
			Help: "Hook deliveries given up after hook_delivery.max_attempts attempts (see vodwatchd status)."}),
	}
	for _, c := range []prometheus.Collector{p.processing, p.pending, p.deadLetters} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: registering: %w", err)
		}
	}
	return p, nil
}

// Set sets the gauges.
func (p *Playable) Set(processing, pending, dead int) {
	if p == nil {
		return
	}
	p.processing.Set(float64(processing))
	p.pending.Set(float64(pending))
	p.deadLetters.Set(float64(dead))
}
