//go:build unix

package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is a process started in a process group of its own. The
// terminal's Ctrl-C then reaches only the supervisor, which stops its
// children itself; and a stop signal reaches the child and everything it
// spawned.
type Child struct {
	Name string // as given to Start
	Log  string // the file its output is appended to
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, once done is closed
}

// Start starts bin with args and env (added to the supervisor's), its
// output appended to logPath. On Linux the child is also killed if the
// supervisor dies without stopping it.
func Start(name, logPath string, env []string, bin string, args ...string) (*Child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &Child{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is the child's exit status; valid once Done is closed.
func (c *Child) Err() error { return c.err }

// Pid is the child's process ID, which is also its process group ID.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Stop asks the child's process group to stop (SIGTERM), waits up to
// grace, or until force is closed (nil: never), then kills the group.
// Whatever the child left behind in its group is killed too, so nothing
// survives it. It reports the child's exit status, nil for an exit by
// SIGTERM.
func (c *Child) Stop(grace time.Duration, force <-chan struct{}) error {
	pgid := c.Pid()
	select {
	case <-c.done:
	default:
		signalGroup(pgid, syscall.SIGTERM)
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-c.done:
		case <-timer.C:
			signalGroup(pgid, syscall.SIGKILL)
			<-c.done
		case <-force:
			signalGroup(pgid, syscall.SIGKILL)
			<-c.done
		}
	}
	signalGroup(pgid, syscall.SIGKILL) // stragglers of the group
	var exit *exec.ExitError
	if errors.As(c.err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return c.err
}

// signalGroup sends sig to every process of the group; a group that no
// longer exists is not an error.
func signalGroup(pgid int, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig)
}

// GroupAlive reports whether any process of the group still exists.
func GroupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
