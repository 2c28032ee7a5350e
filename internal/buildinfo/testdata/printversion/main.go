// Command printversion prints buildinfo.Read() as JSON; the buildinfo tests
// build it with -ldflags -X to check the link-time version.
package main

import (
	"encoding/json"
	"os"

	_ "github.com/prometheus/client_golang/prometheus" // a dependency to list
	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
)

func main() {
	if err := json.NewEncoder(os.Stdout).Encode(buildinfo.Read()); err != nil {
		os.Exit(1)
	}
}
