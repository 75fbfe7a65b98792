// Command rapport runs the outreach service and its administration tasks:
//
//	rapport serve [--role=all|api|worker|scheduler]   the API and the workers
//	rapport migrate [up|down|down-all]      apply or roll back migrations
//	rapport keys create --role R --name N   create an API key (printed once)
//	rapport users create|set-password|disable|enable|list   console users
//	rapport contacts import [--tier T] FILE  import contacts from CSV (- for stdin)
//	rapport demo                            add demo contacts and a draft campaign
//	rapport version
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones work on machines without tzdata installed
)

// version and commit are set at build time (make build):
// -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rapport:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  rapport serve [--role=all|api|worker|scheduler]
  rapport migrate [up|down|down-all]
  rapport keys create --role admin|marketer|viewer --name NAME
  rapport users create --email EMAIL --name NAME --role admin|marketer|viewer
  rapport users set-password --email EMAIL      (password on stdin; none: a one-time one)
  rapport users disable|enable --email EMAIL
  rapport users list
  rapport contacts import [--tier TIER] FILE|-
  rapport demo
  rapport version`

// run is the whole program; main and the end-to-end tests both call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stderr)
	case "keys":
		return keys(ctx, args[1:], getenv, stdout, stderr)
	case "users":
		return users(ctx, args[1:], getenv, stdout, stderr)
	case "contacts":
		return contacts(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return demo(ctx, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rapport", version, "commit", commit)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
