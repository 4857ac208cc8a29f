//go:build !unix

package main

import (
	"errors"
	"time"
)

// child is not supported off Unix: the runner relies on process groups.
type child struct {
	name, log string
	done      chan struct{}
}

func startChild(name, logPath string, env []string, bin string, args ...string) (*child, error) {
	return nil, errors.New("certflow-dev needs a Unix system (process groups); use docker-compose.temporal.yml and run the binaries by hand")
}

func (c *child) Done() <-chan struct{}                                 { return c.done }
func (c *child) Err() error                                            { return nil }
func (c *child) Pid() int                                              { return 0 }
func (c *child) Stop(grace time.Duration, force <-chan struct{}) error { return nil }
func groupAlive(pgid int) bool                                         { return false }
