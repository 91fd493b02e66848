package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
)

// ingestProcess is a running simcore binary (an ingest, mostly).
type ingestProcess struct {
	cmd    *exec.Cmd
	stderr *testenv.Buffer
	exited chan error // holds the exit once there is one
}

// startIngest starts bin with args and env, and waits until its ops
// server at env's SIMCORE_OPS_ADDR is ready. The process is killed, if
// still running, when tb ends.
func startIngest(tb testing.TB, ctx context.Context, bin string, env map[string]string, args ...string) *ingestProcess {
	tb.Helper()
	p := &ingestProcess{cmd: exec.CommandContext(ctx, bin, args...), stderr: &testenv.Buffer{}, exited: make(chan error, 1)}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		p.wait()
	})
	waitReady(tb, env["SIMCORE_OPS_ADDR"], func() string { return fmt.Sprintf("%v never ready:\n%s", args, p.stderr) })
	return p
}

// wait waits for the process to exit and returns how it did (again on
// every call).
func (p *ingestProcess) wait() error {
	err := <-p.exited
	p.exited <- err
	return err
}

// stop sends SIGTERM and fails unless the process exits cleanly in 30 s.
func (p *ingestProcess) stop(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			tb.Fatalf("%v after SIGTERM: %v\n%s", p.cmd.Args, err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("%v did not stop within 30 s of SIGTERM:\n%s", p.cmd.Args, p.stderr)
	}
}

// waitReady waits up to a minute until the ops server at addr answers
// /readyz with 200; msg says what failed.
func waitReady(tb testing.TB, addr string, msg func() string) {
	tb.Helper()
	waitFor(tb, time.Minute, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, msg)
}
