// Command merchd runs a shop for drops, pop-ups and live commerce.
//
//	merchd serve   the central server (GraphQL API, webhooks, pages)
//	merchd staff create   add a staff member (owner, staff or clerk) who signs in with a password
//	merchd staff list     list staff members
//	merchd staff disable  disable a member and end all their tokens
//	merchd staff create-token   issue a staff API token
//	merchd staff list-tokens    list staff and hub tokens
//	merchd staff revoke-token   end a token at once
//	merchd stripe setup   create the Stripe webhook endpoint merchd needs
//	merchd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `merchd runs a shop for drops, pop-ups and live commerce.

Usage:
  merchd serve [flags]                 run the central server
  merchd edge --upstream URL --hub CODE [flags]
                                       run a pop-up hub that sells offline and syncs to central
  merchd staff create --email E --role owner|staff|clerk [--location CODE]
                                       add a staff member; the password is read from stdin (or --password-file)
  merchd staff list                    list staff members, their roles and state
  merchd staff disable --email E       disable a member: no sign-in, every token of theirs ends at once
  merchd staff create-token [flags]    issue a staff API token (printed once; --expires, --hub, --role)
  merchd staff list-tokens             list staff and hub tokens with their state
  merchd staff revoke-token --id ID    end a token at once (its open sockets close too)
  merchd stripe setup --url URL        create the Stripe webhook endpoint (pinned API version)
  merchd version                       print the version
  merchd help [command]                show help

Every flag can also be set in the environment as MERCHD_<FLAG>, with dashes
as underscores (--max-body-bytes is MERCHD_MAX_BODY_BYTES). A flag given on
the command line wins over the environment.

Run 'merchd serve --help' for the server's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "merchd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "edge":
		return edgeCommand(ctx, rest, stdout, stderr)
	case "staff":
		return staffCommand(ctx, rest, stdout, stderr)
	case "stripe":
		return stripeCommand(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "merchd", buildVersion())
		return nil
	case "help", "--help", "-help", "-h":
		if len(rest) > 0 {
			return run(ctx, []string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}
