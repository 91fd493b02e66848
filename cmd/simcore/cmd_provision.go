package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/simcore/simcore/provisioning"
	wasynq "github.com/simcore/simcore/workers/asynq"
)

func provisionCommand() *command {
	var (
		pc       provConfig
		language string
		wait     bool
		timeout  time.Duration
		archived int
	)
	return &command{
		name:    "provision",
		args:    "KIND MSISDN [ARGS] | status ID | queue",
		summary: "submit a provisioning request, or show one's state or the task queue's",
		long: `Kinds (MSISDN is the subscription's number, E.164 digits):
  swap MSISDN NEW_ICCID               move the number to a new SIM from inventory
  voicemail MSISDN on|off [--language he]
  forwarding MSISDN CONDITION NUMBER  CONDITION: unconditional, busy, no_reply, not_reachable
  forwarding MSISDN CONDITION cancel
  apn MSISDN                          send the plan's APN settings by SMS
  dates MSISDN START [END]            plan start and end (YYYY-MM-DD, UTC); START not in the past,
                                      or a started line's own start, to change only END
  suspend MSISDN | resume MSISDN
  status ID [--wait]                  a request's state and outcome; --wait until it finishes
                                      (at once an error for one scheduled after --timeout)
  queue [--archived N]                tasks in the queue by state (pending, active, scheduled,
                                      retry, archived, completed) and processed/failed today;
                                      --archived N adds the last N archived tasks (failed for
                                      good or out of retries), newest first (to the second), with
                                      their errors
Prints the request, or the queue, as JSON. Workers (simcore worker, or run) carry requests out.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.provFlags(&pc)
			fs.StringVar(&language, "language", "en", "voicemail language")
			fs.BoolVar(&wait, "wait", false, "with status: wait until the request is done or failed")
			fs.DurationVar(&timeout, "timeout", time.Minute, "with --wait: how long to wait")
			fs.IntVar(&archived, "archived", 0, "with queue: also list the last N archived tasks")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 && args[0] == "queue" {
				if len(args) != 1 {
					return usagef("provision queue: takes no arguments (see simcore provision -h)")
				}
				if archived < 0 {
					return usagef("provision queue: --archived %d: want 0 or more", archived)
				}
				return provisionQueue(ctx, c, &pc, archived)
			}
			if len(args) < 2 {
				return usagef("provision: say KIND MSISDN ..., status ID or queue (see simcore provision -h)")
			}
			log, err := c.logger()
			if err != nil {
				return err
			}
			p, err := c.openProvisioning(ctx, log, nil, &pc, false)
			if err != nil {
				return err
			}
			defer p.close()
			if args[0] == "status" {
				return provisionStatus(ctx, c, p, args[1], wait, timeout)
			}
			kind, params, err := provisionArgs(args, language)
			if err != nil {
				return err
			}
			sub, err := p.store.SubscriptionByMSISDN(ctx, args[1])
			if errors.Is(err, provisioning.ErrSubscriptionNotFound) {
				return usagef("provision: no subscription has MSISDN %s", args[1])
			}
			if err != nil {
				return err
			}
			by := cliRequester(c.getenv)
			r, err := p.svc.Submit(ctx, sub.ID, kind, params, by)
			var ie *provisioning.InputError
			switch {
			case errors.As(err, &ie):
				return usagef("provision %s: %v", kind, err)
			case errors.Is(err, provisioning.ErrSIMNotFound), errors.Is(err, provisioning.ErrSIMNotInStock):
				return usagef("provision %s: %v", kind, err)
			case err != nil && r.ID == "":
				return err
			}
			if perr := printJSON(c, r); perr != nil {
				return perr
			}
			return err
		},
	}
}

func provisionArgs(args []string, language string) (provisioning.Kind, json.RawMessage, error) {
	need := func(n int) error {
		if len(args) != n {
			return usagef("provision %s: wrong number of arguments (see simcore provision -h)", args[0])
		}
		return nil
	}
	var (
		kind provisioning.Kind
		v    any = struct{}{}
	)
	switch args[0] {
	case "swap":
		if err := need(3); err != nil {
			return "", nil, err
		}
		kind, v = provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: args[2]}
	case "voicemail":
		if err := need(3); err != nil {
			return "", nil, err
		}
		if args[2] != "on" && args[2] != "off" {
			return "", nil, usagef("provision voicemail: say on or off")
		}
		kind, v = provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: args[2] == "on", Language: language}
	case "forwarding":
		if err := need(4); err != nil {
			return "", nil, err
		}
		num := args[3]
		if num == "cancel" {
			num = ""
		}
		kind, v = provisioning.KindForwarding, provisioning.ForwardingParams{Condition: provisioning.ForwardingKind(args[2]), Number: num}
	case "apn":
		if err := need(2); err != nil {
			return "", nil, err
		}
		kind = provisioning.KindAPNSMS
	case "dates":
		if len(args) != 3 && len(args) != 4 {
			return "", nil, usagef("provision dates: MSISDN START [END]")
		}
		start, err := time.Parse(time.DateOnly, args[2])
		if err != nil {
			return "", nil, usagef("provision dates: START %q: want YYYY-MM-DD", args[2])
		}
		d := provisioning.DatesParams{Start: start}
		if len(args) == 4 {
			end, err := time.Parse(time.DateOnly, args[3])
			if err != nil {
				return "", nil, usagef("provision dates: END %q: want YYYY-MM-DD", args[3])
			}
			d.End = &end
		}
		kind, v = provisioning.KindDates, d
	case "suspend", "resume":
		if err := need(2); err != nil {
			return "", nil, err
		}
		kind = provisioning.Kind(args[0])
	default:
		return "", nil, usagef("provision: unknown kind %q (see simcore provision -h)", args[0])
	}
	b, _ := json.Marshal(v)
	return kind, b, nil
}

func provisionStatus(ctx context.Context, c *cmdEnv, p *provStack, id string, wait bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r, err := p.store.Request(ctx, id)
		if errors.Is(err, provisioning.ErrRequestNotFound) {
			return usagef("provision status: no request %s", id)
		}
		if err != nil {
			return err
		}
		// A request scheduled for after the deadline cannot finish within
		// it: say so now instead of waiting the timeout out.
		later := wait && !r.State.Terminal() && r.NotBefore.After(deadline)
		if !wait || r.State.Terminal() || later || time.Now().After(deadline) {
			if err := printJSON(c, r); err != nil {
				return err
			}
			switch {
			case later:
				return fmt.Errorf("request %s is scheduled for %s, after the --timeout of %s: not waiting", id, r.NotBefore.UTC().Format(time.RFC3339), timeout)
			case wait && !r.State.Terminal():
				return fmt.Errorf("request %s still %s after %s", id, r.State, timeout)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// provisionQueue prints the task queue's counts and, for archived > 0, its
// last archived tasks. It needs Redis only: the queue is all it reads.
func provisionQueue(ctx context.Context, c *cmdEnv, pc *provConfig, archived int) error {
	ro, err := c.redisOpt(pc)
	if err != nil {
		return err
	}
	insp := wasynq.NewInspector(ro)
	defer insp.Close()
	counts, err := insp.Counts(ctx)
	if err != nil {
		return fmt.Errorf("provision queue: %w", err)
	}
	out := struct {
		Counts   wasynq.QueueCounts `json:"counts"`
		Archived *[]wasynq.TaskInfo `json:"archived,omitempty"` // present, maybe empty, when asked for
	}{Counts: counts}
	if archived > 0 {
		tasks, err := insp.Archived(ctx, archived)
		if err != nil {
			return fmt.Errorf("provision queue: %w", err)
		}
		if tasks == nil {
			tasks = []wasynq.TaskInfo{}
		}
		out.Archived = &tasks
	}
	return printJSON(c, out)
}

func printJSON(c *cmdEnv, v any) error {
	enc := json.NewEncoder(c.io.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cliRequester names who asked, for a request made with the CLI:
// "cli:" and the user, from USER or, where that is unset (cron, a systemd
// unit, a container), from the process's user id.
func cliRequester(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return "cli:" + u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:uid " + strconv.Itoa(os.Getuid())
}
