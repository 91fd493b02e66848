package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hq "github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
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

// TestProvisionStatusWaitScheduled: --wait on a request scheduled for after
// the timeout says so at once, with the request, instead of waiting the
// timeout out (it used to sit for the whole --timeout, then say "still
// pending").
func TestProvisionStatusWaitScheduled(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	url := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	addr, db := testenv.RedisDB(t)
	env := map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_REDIS_ADDR": addr, "SIMCORE_REDIS_DB": strconv.Itoa(db), "SIMCORE_LOG_LEVEL": "warn"}
	subID, _ := addTestLine(ctx, t, url, 21, "447700900021", "wait")
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := ppg.New(pool)
	r := provisioning.Request{SubscriptionID: subID, Kind: provisioning.KindSuspend, RequestedBy: "test", NotBefore: time.Now().Add(24 * time.Hour)}
	if err := store.CreateRequest(ctx, &r); err != nil {
		t.Fatal(err)
	}

	// The test's own deadline is a minute; an --timeout of an hour would
	// outlast it if the command waited.
	out, _, err := runCLI(ctx, env, "provision", "status", r.ID, "--wait", "--timeout", "1h")
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "scheduled for") {
		t.Fatalf("status --wait of a request scheduled tomorrow: %v, want an error saying it is scheduled", err)
	}
	var got provisioning.Request
	if jerr := json.Unmarshal([]byte(out), &got); jerr != nil || got.ID != r.ID || got.State != provisioning.StatePending {
		t.Fatalf("printed %q (%v), want the pending request %s", out, jerr, r.ID)
	}
	// One due within the timeout is still waited for (with no worker it
	// stays pending): the wait ends only when the command is stopped.
	soon := provisioning.Request{SubscriptionID: subID, Kind: provisioning.KindResume, RequestedBy: "test", NotBefore: time.Now().Add(time.Hour)}
	if err := store.CreateRequest(ctx, &soon); err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, _, err := runCLI(stop, env, "provision", "status", soon.ID, "--wait", "--timeout", "2h"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("status --wait of a request due within the timeout: %v, want it to wait until stopped", err)
	}
}

// TestRedisCredentials: a Redis that wants a user and password (AUTH, or
// an ACL user, as managed Redis does) is reached with
// SIMCORE_REDIS_USERNAME and SIMCORE_REDIS_PASSWORD; a wrong password is
// refused, and the error does not show it. There used to be no way to give
// either.
func TestRedisCredentials(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	addr, db := testenv.RedisDB(t)
	admin := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer admin.Close()
	user, pass := testenv.UniqueName("simcore_test_"), "s3cret-"+testenv.UniqueName("p")
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("create the Redis user: %v", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })

	env := map[string]string{"SIMCORE_REDIS_ADDR": addr, "SIMCORE_REDIS_DB": strconv.Itoa(db), "SIMCORE_REDIS_USERNAME": user, "SIMCORE_REDIS_PASSWORD": pass}
	if out, errOut, err := runCLI(ctx, env, "provision", "queue"); err != nil || !strings.Contains(out, `"counts"`) {
		t.Fatalf("provision queue as %s: %q %v\n%s", user, out, err, errOut)
	}
	env["SIMCORE_REDIS_PASSWORD"] = "wrong-" + pass
	_, errOut, err := runCLI(ctx, env, "provision", "queue")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "wrongpass") {
		t.Fatalf("provision queue with a wrong password: %v, want Redis's WRONGPASS\n%s", err, errOut)
	}
	if strings.Contains(err.Error()+errOut, pass) {
		t.Fatalf("the error shows the password: %v\n%s", err, errOut)
	}
}
