package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/gusu-gis/gusu/data/auth"
)

// cmdToken runs `gusu token create|revoke`. The new token is printed alone
// on standard output so that scripts can capture it; everything else goes
// to standard error.
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke") {
		return fmt.Errorf("%w: 'gusu token' takes create or revoke", errUsage)
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	name := fs.String("name", "", "who or what the token is for (required)")
	roleFlag := fs.String("role", "editor", "viewer, editor or admin (create only)")
	cfg, _, err := parseConfigWith("token "+args[0], args[1:], stderr, databaseKeys, fs)
	if err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	role, err := auth.ParseRole(*roleFlag)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "create" {
		tok, err := auth.Create(ctx, db.Pool, *name, role)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		log.Info("token created; it is shown only once", "name", *name, "role", role.String())
		return nil
	}
	n, err := auth.Revoke(ctx, db.Pool, *name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no active token named %q", *name)
	}
	log.Info("revoked", "name", *name, "tokens", n)
	return nil
}
