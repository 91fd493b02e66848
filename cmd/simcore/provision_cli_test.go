package main

import (
	"context"
	"encoding/json"
	"os"
	"os/user"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hq "github.com/hibiken/asynq"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	wasynq "github.com/simcore/simcore/workers/asynq"
)

func TestProvisionQueueUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"an argument too many", []string{"provision", "queue", "extra"}},
		{"negative archived", []string{"provision", "queue", "--archived", "-1"}},
		{"nothing to do", []string{"provision"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := runCLI(context.Background(), nil, tt.args...); !isUsage(err) {
				t.Fatalf("err = %v (%T), want a usage error", err, err)
			}
		})
	}
}

// TestProvisionQueue reads the task queue in a Redis database of its own:
// empty at first, then one scheduled request and one archived.
func TestProvisionQueue(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	addr, db := testenv.RedisDB(t)
	env := map[string]string{"SIMCORE_REDIS_ADDR": addr, "SIMCORE_REDIS_DB": strconv.Itoa(db)}
	type view struct {
		Counts   wasynq.QueueCounts `json:"counts"`
		Archived *[]wasynq.TaskInfo `json:"archived"`
	}
	queue := func(args ...string) view {
		t.Helper()
		out, errOut, err := runCLI(ctx, env, append([]string{"provision", "queue"}, args...)...)
		if err != nil {
			t.Fatalf("provision queue %v: %v\n%s", args, err, errOut)
		}
		var v view
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("provision queue %v printed %q: %v", args, out, err)
		}
		return v
	}

	if v := queue(); v.Counts != (wasynq.QueueCounts{Queue: wasynq.QueueName}) || v.Archived != nil {
		t.Fatalf("empty queue: %+v", v)
	}
	if v := queue("--archived", "5"); v.Archived == nil || len(*v.Archived) != 0 {
		t.Fatalf("empty queue with --archived: %+v; want an empty list", v)
	}

	opt := hq.RedisClientOpt{Addr: addr, DB: db}
	q := wasynq.NewQueue(opt)
	t.Cleanup(func() { q.Close() })
	const archivedID, laterID = "3f9a1c2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b", "8e7d6c5b-4a39-4281-9706-f5e4d3c2b1a0"
	for _, id := range []string{archivedID, laterID} {
		if err := q.EnqueueRequest(ctx, provisioning.Request{ID: id, NotBefore: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	insp := hq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	if err := insp.ArchiveTask(wasynq.QueueName, "req:"+archivedID); err != nil {
		t.Fatal(err)
	}

	v := queue("--archived", "5")
	if d := cmp.Diff(wasynq.QueueCounts{Queue: wasynq.QueueName, Scheduled: 1, Archived: 1}, v.Counts); d != "" {
		t.Errorf("counts (-want +got):\n%s", d)
	}
	if v.Archived == nil || len(*v.Archived) != 1 || (*v.Archived)[0].RequestID != archivedID || (*v.Archived)[0].Type != wasynq.TypeRequest {
		t.Fatalf("archived %+v; want request %s", v.Archived, archivedID)
	}
}

// TestCLIRequester: a request made with the CLI names its user, also where
// USER is unset (cron, a systemd unit, a container); it used to be "cli:".
func TestCLIRequester(t *testing.T) {
	if got := cliRequester(func(k string) string { return map[string]string{"USER": "noa"}[k] }); got != "cli:noa" {
		t.Errorf("with USER=noa: %q, want cli:noa", got)
	}
	got := cliRequester(func(string) string { return "" })
	want := "cli:uid " + strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		want = "cli:" + u.Username
	}
	if got != want {
		t.Errorf("without USER: %q, want %q", got, want)
	}
}
