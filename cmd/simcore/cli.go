package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// stdio is the command's standard streams, passed in so tests can capture them.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var (
	errHelp           = errors.New("help requested")
	errNotImplemented = errors.New("not implemented yet")
)

// usageError is a mistake in the command line; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of positional arguments
	summary string
	long    string
	run     func(ctx context.Context, c *cmdEnv, args []string) error // nil: not implemented yet
	// flags registers the command's flags on fs; the returned func, if any,
	// runs after parsing (for validation).
	flags func(c *cmdEnv, fs *flag.FlagSet)
	issue string // for not-yet-implemented commands: where it is tracked
}

// cmdEnv carries what every command gets: the environment lookup, streams
// and the common configuration parsed from flags and environment.
type cmdEnv struct {
	getenv func(string) string
	io     stdio
	fs     *flag.FlagSet
	envs   []envVar // SIMCORE_* variables this command reads, for help
	errs   []error  // settings that could not be read (a secret's file)
	common commonConfig
}

type envVar struct {
	name, flag, def string
	secret          bool // never print its value
}

func commands() []*command {
	return []*command{
		runCommand(),
		ingestCommand(),
		workerCommand(),
		portalCommand(),
		netsimCommand(),
		provisionCommand(),
		simsCommand(),
		migrateCommand(),
		genCommand(),
		usageCommand(),
		plansCommand(),
		balanceCommand(),
		topupCommand(),
		vouchersCommand(),
		raterCommand(),
		rerateCommand(),
		versionCommand(),
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, sio stdio) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			for _, c := range cmds {
				if c.name == args[1] {
					return runCommandArgs(ctx, c, []string{"-h"}, getenv, sio)
				}
			}
			return usagef("unknown command %q (see simcore help)", args[1])
		}
		printHelp(sio.out, cmds)
		if len(args) == 0 {
			return usagef("no command given")
		}
		return errHelp
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return runCommandArgs(ctx, c, args[1:], getenv, sio)
		}
	}
	return usagef("unknown command %q (see simcore help)", args[0])
}

func runCommandArgs(ctx context.Context, c *command, args []string, getenv func(string) string, sio stdio) error {
	fs := flag.NewFlagSet("simcore "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := &cmdEnv{getenv: getenv, io: sio, fs: fs}
	if c.flags != nil {
		c.flags(env, fs)
	}
	if len(env.errs) > 0 {
		return usageError{fmt.Sprintf("%s: %v", c.name, errors.Join(env.errs...))}
	}
	fs.Usage = func() {}
	// Flags may come before or after positional arguments
	// (`simcore gen cdrs --records 10`); "--" ends flags.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandHelp(sio.out, c, env)
				return errHelp
			}
			printCommandHelp(sio.err, c, env)
			return usageError{fmt.Sprintf("%s: %v", c.name, err)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if c.run == nil {
		return fmt.Errorf("%s: %w (tracked in issue %s)", c.name, errNotImplemented, c.issue)
	}
	return c.run(ctx, env, positional)
}

func printHelp(w io.Writer, cmds []*command) {
	fmt.Fprintln(w, "simcore: telecom provisioning and usage-metering engine")
	fmt.Fprintln(w, "\nUsage: simcore COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range cmds {
		s := c.summary
		if c.run == nil {
			s += " (not implemented yet)"
		}
		fmt.Fprintf(w, "  %-8s %s\n", c.name, s)
	}
	fmt.Fprintln(w, "\n`simcore help COMMAND` or `simcore COMMAND -h` explains a command, its flags and SIMCORE_* environment variables.")
	fmt.Fprintln(w, "Every flag that has an environment variable takes its default from it.")
}

func printCommandHelp(w io.Writer, c *command, env *cmdEnv) {
	fmt.Fprintf(w, "Usage: simcore %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
	if c.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.long))
	}
	if c.run == nil {
		fmt.Fprintf(w, "\nNot implemented yet (issue %s): running it exits 2.\n", c.issue)
	}
	byFlag := map[string]string{}
	secret := map[string]bool{}
	for _, e := range env.envs {
		byFlag[e.flag] = e.name
		secret[e.flag] = e.secret
	}
	var lines []string
	env.fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		l := "  -" + f.Name
		if name != "" {
			l += " " + name
		}
		l += "\n      " + usage
		if ev := byFlag[f.Name]; ev != "" {
			l += " [$" + ev + "]"
		}
		if secret[f.Name] {
			l += " (or a file: $" + byFlag[f.Name] + "_FILE)"
			if f.DefValue != "" {
				l += " (set)"
			}
		} else if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			l += fmt.Sprintf(" (default %q)", redactURLPassword(f.DefValue))
		}
		lines = append(lines, l)
	})
	if len(lines) > 0 {
		sort.Strings(lines)
		fmt.Fprintln(w, "\nFlags:")
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
}

// redactURLPassword masks the password of a URL's userinfo in s, so that
// help never prints one that a URL setting carries (a gateway URL with
// basic-auth credentials, which the gateway refuses). It works on the text,
// not on url.Parse, since a URL that does not parse may hold one too. The
// password runs to the last '@', not to the first '/', '?' or '#' as a
// parser's authority does: generated passwords hold those too. A URL with
// an '@' in its path may lose more than a password, which help can afford.
func redactURLPassword(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return s
	}
	return s[:i+3+colon+1] + "xxxxx" + s[i+3+at:]
}
