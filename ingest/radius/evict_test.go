package radius

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestEvictedSessionsCounted: a session whose mark is evicted is counted
// by what it was, so an operator can tell a too small --radius-sessions
// (active sessions evicted: their next update counts their usage again)
// from the harmless churn of stopped sessions and of those whose Stop
// never came. The evictions used to be silent.
func TestEvictedSessionsCounted(t *testing.T) {
	t.Parallel()
	s := startServerConfig(t, Config{Addr: "127.0.0.1:0", Secret: testSecret, MaxSessions: 2}, &recordingSink{})

	mustAnswer(t, s, usage{acctSessionID: "stopped", status: start})
	mustAnswer(t, s, usage{acctSessionID: "stopped", status: stop, sessionS: 60, in: 100, out: 100})
	// Its last update sent two hours after the fact: idle.
	mustAnswer(t, s, usage{acctSessionID: "idle", status: interim, sessionS: 60, in: 100, out: 100, delay: 7200})
	mustAnswer(t, s, usage{acctSessionID: "active", status: interim, sessionS: 60, in: 100, out: 100})
	mustAnswer(t, s, usage{acctSessionID: "new-1", status: interim, sessionS: 60, in: 100, out: 100})
	mustAnswer(t, s, usage{acctSessionID: "new-2", status: interim, sessionS: 60, in: 100, out: 100})

	if got := testutil.ToFloat64(s.met.sessions); got != 2 {
		t.Errorf("sessions kept = %v, want 2", got)
	}
	for _, state := range []string{"stopped", "idle", "active"} {
		if got := testutil.ToFloat64(s.met.evicted.WithLabelValues(state)); got != 1 {
			t.Errorf("evicted %s = %v, want 1", state, got)
		}
	}
	if n, err := testutil.GatherAndCount(s.reg, "simcore_radius_sessions_evicted_total", "simcore_radius_sessions"); err != nil || n != 4 {
		t.Errorf("registered series: %d, %v; want 4 (three eviction states and the sessions kept)", n, err)
	}
}
