package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdEmulator(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("emulator: not built yet")
}
