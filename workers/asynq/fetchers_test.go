package asynq_test

import (
	"slices"
	"testing"
	"time"

	hq "github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	wasynq "github.com/simcore/simcore/workers/asynq"
)

// One worker runs Fetchers Asynq servers that share its concurrency, and
// requests queued on a line still apply in the order they were made while
// several servers take them.
func TestWorkerFetchersShareTheQueue(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.worker.Shutdown()
	e.workerConfig.Concurrency, e.workerConfig.Fetchers = 10, 4
	e.startWorker(t)

	insp := hq.NewInspector(e.redis)
	t.Cleanup(func() { insp.Close() })
	var conc []int
	e.waitFor(t, func() bool {
		srvs, err := insp.Servers()
		if err != nil {
			return false
		}
		conc = conc[:0]
		for _, s := range srvs {
			if s.Status == "active" && s.Queues[wasynq.QueueName] > 0 {
				conc = append(conc, s.Concurrency)
			}
		}
		return len(conc) == 4
	}, "want 4 active servers on the provisioning queue, have concurrencies %v", conc)
	slices.Sort(conc)
	if want := []int{2, 2, 3, 3}; !slices.Equal(conc, want) {
		t.Fatalf("server concurrencies %v, want %v (10 shared by 4)", conc, want)
	}

	// Five lines, four changes each, submitted back to back: whichever
	// server takes a request, each line ends in its last change and its
	// requests finished in order.
	const lines, changes = 5, 4
	// The last change differs from the line's start (off, en).
	changeList := []provisioning.VoicemailParams{{Enabled: true, Language: "en"}, {Enabled: false, Language: "he"}, {Enabled: true, Language: "en"}, {Enabled: true, Language: "he"}}
	ids := make([][]string, lines)
	subs := make([]int64, lines)
	for l := range lines {
		subs[l] = e.line(t, 100+l, "en")
	}
	for c := range changes {
		for l := range lines {
			r := e.submit(t, subs[l], provisioning.KindVoicemail, changeList[c])
			ids[l] = append(ids[l], r.ID)
		}
	}
	for l := range lines {
		var prev provisioning.Request
		for c, id := range ids[l] {
			r := e.wait(t, id, provisioning.StateDone)
			if c > 0 && r.UpdatedAt.Before(prev.UpdatedAt) {
				t.Fatalf("line %d: change %d finished at %s, before change %d at %s", l, c, r.UpdatedAt, c-1, prev.UpdatedAt)
			}
			prev = r
		}
		ns, _ := e.hlr.Subscriber(msisdn(100 + l))
		if last := changeList[changes-1]; ns.Voicemail.Enabled != last.Enabled || ns.Voicemail.Language != last.Language {
			t.Fatalf("line %d: HLR voicemail %+v, want the last change %+v", l, ns.Voicemail, last)
		}
	}
}

// A request that finds the one before it on its line still open waits to
// retry; when that one finishes, the worker runs it at once instead of
// leaving it to its retry (here an hour away, so only the wake can run it
// within the test).
func TestWaitingRequestIsWokenWhenTheOneBeforeFinishes(t *testing.T) {
	e := newEnv(t, 0, 0)
	sub := e.line(t, 1, "en")
	e.worker.Shutdown()
	ctx := testenv.Context(t, time.Minute)
	a := e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "he"})
	b := e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: false, Language: "en"})

	// A is in progress on a worker that died, and its task is gone.
	if _, _, err := e.store.StartRequest(ctx, a.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	insp := hq.NewInspector(e.redis)
	t.Cleanup(func() { insp.Close() })
	if err := insp.DeleteTask(wasynq.QueueName, "req:"+a.ID); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e.workerConfig.Registry, e.workerConfig.WaitRetry = reg, time.Hour
	e.startWorker(t)
	e.waitFor(t, func() bool {
		info, err := insp.GetTaskInfo(wasynq.QueueName, "req:"+b.ID)
		return err == nil && info.State == hq.TaskStateRetry
	}, "request b never waited for a")
	if got, _ := e.store.Request(ctx, b.ID); got.State != provisioning.StatePending {
		t.Fatalf("b is %s while a is open, want pending", got.State)
	}

	// A's task comes back (as the sweeper queues a lost one); A finishes
	// and wakes B.
	q := wasynq.NewQueue(e.redis)
	t.Cleanup(func() { q.Close() })
	if err := q.EnqueueRequest(ctx, a); err != nil {
		t.Fatal(err)
	}
	ra, rb := e.wait(t, a.ID, provisioning.StateDone), e.wait(t, b.ID, provisioning.StateDone)
	if rb.UpdatedAt.Before(ra.UpdatedAt) {
		t.Fatalf("b finished at %s, before a at %s", rb.UpdatedAt, ra.UpdatedAt)
	}
	if ns, _ := e.hlr.Subscriber(msisdn(1)); ns.Voicemail.Enabled || ns.Voicemail.Language != "en" {
		t.Fatalf("HLR voicemail %+v, want b's change (off, en) last", ns.Voicemail)
	}
	// A's worker counts the wake once its RunTask returns, which can be
	// after B has run and finished.
	e.waitFor(t, func() bool { return taskCount(t, reg, "request", "woken") >= 1 }, "no request counted woken")
	if n := taskCount(t, reg, "request", "woken"); n != 1 {
		t.Fatalf("%v requests woken, want 1", n)
	}
}

// taskCount reads simcore_provisioning_tasks_total{type, outcome}.
func taskCount(t *testing.T, reg *prometheus.Registry, typ, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "simcore_provisioning_tasks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
