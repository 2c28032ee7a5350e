package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdRun(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("run: not built yet")
}
