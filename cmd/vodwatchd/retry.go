package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdRetry(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("retry: not built yet")
}
