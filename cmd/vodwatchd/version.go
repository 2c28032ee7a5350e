package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdVersion(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("version: not built yet")
}
