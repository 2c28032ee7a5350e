package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdCheck(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("check: not built yet")
}
