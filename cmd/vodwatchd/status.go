package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdStatus(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("status: not built yet")
}
