//go:build !unix

package procs

import "time"

// Child is not supported off Unix.
type Child struct {
	Name, Log string
	done      chan struct{}
}

// Start fails with ErrUnsupported.
func Start(name, logPath string, env []string, bin string, args ...string) (*Child, error) {
	return nil, ErrUnsupported
}

func (c *Child) Done() <-chan struct{}                                 { return c.done }
func (c *Child) Err() error                                            { return nil }
func (c *Child) Pid() int                                              { return 0 }
func (c *Child) Stop(grace time.Duration, force <-chan struct{}) error { return nil }

// GroupAlive is always false off Unix.
func GroupAlive(pgid int) bool { return false }
