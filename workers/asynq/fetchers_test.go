package asynq_test

import (
	"sort"
	"testing"

	hq "github.com/hibiken/asynq"

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
	sort.Ints(conc)
	if want := []int{2, 2, 3, 3}; !equalInts(conc, want) {
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

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
