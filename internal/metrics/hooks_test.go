package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPlayableGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Playable()
	if err != nil {
		t.Fatal(err)
	}
	p.Set(3, 2, 1)
	want := `
# HELP vodwatchd_hook_dead_letters Hook deliveries given up after hook_delivery.max_attempts attempts (see vodwatchd status).
# TYPE vodwatchd_hook_dead_letters gauge
vodwatchd_hook_dead_letters 1
# HELP vodwatchd_hook_deliveries_pending Hook deliveries (webhook or exec) in the outbox, waiting for their first or next attempt.
# TYPE vodwatchd_hook_deliveries_pending gauge
vodwatchd_hook_deliveries_pending 2
# HELP vodwatchd_jobs_processing Done jobs whose VOD procedure is still processing (followed to ready or processing_failed).
# TYPE vodwatchd_jobs_processing gauge
vodwatchd_jobs_processing 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vodwatchd_hook_dead_letters", "vodwatchd_hook_deliveries_pending", "vodwatchd_jobs_processing"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Playable(); err == nil {
		t.Fatal("registered twice")
	}
	var nilP *Playable
	nilP.Set(1, 1, 1)
}
