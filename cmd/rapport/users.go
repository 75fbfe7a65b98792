package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// bootstrapUser creates the first admin user when there is no user at
// all, and prints their address and one-time password once, next to the
// first API key, so a newcomer can open the console. Only a hash is kept;
// the first sign-in must choose a new password.
func (a *app) bootstrapUser(ctx context.Context, stdout io.Writer) error {
	n, err := a.store.UserCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw, u, err := a.store.CreateUser(ctx, "bootstrap", postgres.NewUser{Email: a.cfg.Console.AdminEmail, Name: "Admin", Role: outreach.RoleAdmin})
	if outreach.ErrorCode(err) == outreach.ECONFLICT {
		return nil // another serve process, starting at the same moment, made it
	}
	if err != nil {
		return fmt.Errorf("first console user: %w", err)
	}
	fmt.Fprintf(stdout, "Web console: %s/console/ — sign in as %s with this one-time password\n(shown once; you choose your own at the first sign-in):\n\n    %s\n\n",
		a.cfg.PublicURL, u.Email, pw)
	return nil
}

const usersUsage = `usage:
  rapport users create --email EMAIL --name NAME --role admin|marketer|viewer   prints a one-time password
  rapport users set-password --email EMAIL     the new password from stdin's first line; none: a one-time one
  rapport users disable --email EMAIL          (enable: the same)
  rapport users list`

// stdin is where set-password reads the password; tests replace it.
var stdin io.Reader = os.Stdin

// users runs `rapport users …`: console accounts, through the same store
// methods (and audit entries, with actor "cli") as the console.
func users(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usersUsage)
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email address")
	name := fs.String("name", "", "the user's name (create)")
	role := fs.String("role", "", "admin, marketer or viewer (create)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] != "list" && args[0] != "create" && *email == "" {
		return fmt.Errorf("users %s: --email is required\n%s", args[0], usersUsage)
	}
	store, closeDB, err := openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	switch args[0] {
	case "create":
		pw, u, err := store.CreateUser(ctx, "cli", postgres.NewUser{Email: *email, Name: *name, Role: outreach.Role(*role)})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Created %s (%s). One-time password (shown once; they choose their own at the first sign-in):\n%s\n", u.Email, u.Role, pw)
	case "set-password":
		return setPassword(ctx, store, *email, stdout)
	case "disable", "enable":
		u, err := store.UserByEmail(ctx, *email)
		if err != nil {
			return err
		}
		if _, err := store.SetUserDisabled(ctx, "cli", u.ID, args[0] == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is %sd.\n", u.Email, args[0])
	case "list":
		return listUsers(ctx, store, stdout)
	default:
		return fmt.Errorf("users: unknown command %q\n%s", args[0], usersUsage)
	}
	return nil
}

// setPassword sets the password read from stdin's first line, or, when
// there is none, a one-time password that it prints.
func setPassword(ctx context.Context, store *postgres.Store, email string, stdout io.Writer) error {
	u, err := store.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the password from stdin: %w", err)
	}
	if pw := strings.TrimRight(line, "\r\n"); pw != "" {
		if _, err := store.SetPassword(ctx, "cli", u.ID, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "The password of %s is set; their sessions are signed out.\n", u.Email)
		return nil
	}
	pw, _, err := store.ResetPassword(ctx, "cli", u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "One-time password for %s (shown once; they choose their own at the next sign-in):\n%s\n", u.Email, pw)
	return nil
}

func listUsers(ctx context.Context, store *postgres.Store, stdout io.Writer) error {
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "EMAIL\tNAME\tROLE\tSTATUS")
	var after int64
	for {
		page, err := store.Users(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, u := range page {
			status := "active"
			switch {
			case !u.Active():
				status = "disabled"
			case u.MustChangePassword:
				status = "one-time password"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Email, u.Name, u.Role, status)
			after = u.ID
		}
		if len(page) < 500 {
			return w.Flush()
		}
	}
}
