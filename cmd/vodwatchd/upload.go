package main

import (
	"context"
	"errors"
)

// TODO(scaffold): replaced by the owner of this subcommand.
func cmdUpload(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("upload: not built yet")
}
