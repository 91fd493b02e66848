package main

import (
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// TestSIGHUPWhileStarting: README ("SIGHUP re-reads the RADIUS clients
// file and never ends a process") and the units' ExecReload promise that
// `systemctl reload` is harmless. A long-running command spends seconds
// starting (migrations, loading the dedupe keys, rebuilding the RADIUS
// marks) before its SIGHUP handler used to be installed, and a reload
// then killed it with SIGHUP's default action; systemd counts SIGHUP as a
// clean exit, so Restart=on-failure did not even bring it back. Here
// ClickHouse accepts connections and never answers, holding the start.
func TestSIGHUPWhileStarting(t *testing.T) {
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	ctx := testenv.Context(t, time.Minute)
	cmd := exec.CommandContext(ctx, bin, "ingest", "--spool", t.TempDir())
	cmd.Env = []string{
		"SIMCORE_CLICKHOUSE_ADDR=" + ln.Addr().String(),
		"SIMCORE_CLICKHOUSE_DATABASE=" + testenv.UniqueName("t_hup_"),
		"SIMCORE_POSTGRES_URL=" + testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_OPS_ADDR=" + freePort(t, "tcp"),
	}
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	// Starting: it has connected to ClickHouse and waits for its answer.
	waitFor(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(conns) > 0 },
		func() string { return "ingest never connected to ClickHouse:\n" + stderr.String() })
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("ingest ended on a SIGHUP while starting (%v): a `systemctl reload` right after a start stops it:\n%s", err, stderr)
	case <-time.After(time.Second):
	}
}
