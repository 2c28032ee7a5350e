package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdForget(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("forget: not built yet")
}
