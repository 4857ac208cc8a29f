package temporalx

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/internal/procs"
)

// DevServer is a Temporal CLI dev server that the development runner
// (cmd/certflow-dev) or the benchmark (bench) runs as a child process.
type DevServer struct {
	// CLI is the temporal binary.
	CLI string
	// DBFile is the server's SQLite file.
	DBFile string
	// Port is the frontend's port.
	Port int
	// SearchAttributes are registered at start ("Name=Type").
	SearchAttributes []string
	// Extra are more flags (--headless, --ui-port, ...).
	Extra []string
}

// Check fails, saying how to get one, when there is no CLI.
func (d DevServer) Check() error {
	if _, err := os.Stat(d.CLI); err != nil {
		return fmt.Errorf("no Temporal CLI at %s: run `make temporal` (builds it with go install) or pass -temporal", d.CLI)
	}
	return nil
}

// Args are the CLI's arguments.
func (d DevServer) Args() []string {
	args := append([]string{"server", "start-dev", "--db-filename", d.DBFile, "--port", strconv.Itoa(d.Port)}, d.Extra...)
	for _, sa := range d.SearchAttributes {
		args = append(args, "--search-attribute", sa)
	}
	return args
}

// DialDevServer waits up to 90s for the dev server c runs to answer, and
// returns a client of it; it fails when c exits first or ctx ends.
func DialDevServer(ctx context.Context, c *procs.Child, opts client.Options) (client.Client, error) {
	var tc client.Client
	err := procs.WaitReady(ctx, c, "Temporal", 90*time.Second, func(ctx context.Context) error {
		var err error
		tc, err = Dial(ctx, opts, 250*time.Millisecond)
		return err
	})
	if err != nil {
		return nil, err
	}
	return tc, nil
}
