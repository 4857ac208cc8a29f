//go:build unix

package procs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestChildStopLeavesNoProcessBehind(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	tests := map[string]struct {
		script string
		grace  time.Duration
		// maxWait bounds Stop: a child that ignores SIGTERM is killed
		// after grace.
		maxWait time.Duration
	}{
		"stops on SIGTERM, with its own children": {
			script: "sleep 60 & sleep 60 & wait", grace: 5 * time.Second, maxWait: 4 * time.Second,
		},
		"ignores SIGTERM: killed after the grace period": {
			script: `trap "" TERM; sleep 60 & sleep 60 & wait`, grace: 300 * time.Millisecond, maxWait: 4 * time.Second,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Start("test", filepath.Join(t.TempDir(), "test.log"), nil, "sh", "-c", tc.script)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // let sh start its children
			pgid := c.Pid()
			if !GroupAlive(pgid) {
				t.Fatal("process group not running")
			}
			start := time.Now()
			_ = c.Stop(tc.grace, nil)
			if d := time.Since(start); d > tc.maxWait {
				t.Errorf("Stop took %s, want at most %s", d, tc.maxWait)
			}
			if !groupGone(pgid, 2*time.Second) {
				t.Errorf("process group %d still has processes after Stop", pgid)
			}
		})
	}
}

func TestChildStopForcedBeforeGrace(t *testing.T) {
	c, err := Start("test", filepath.Join(t.TempDir(), "test.log"), nil, "sh", "-c", `trap "" TERM; sleep 60 & wait`)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	force := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(force) })
	start := time.Now()
	_ = c.Stop(time.Minute, force)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("forced Stop took %s", d)
	}
	if !groupGone(c.Pid(), 2*time.Second) {
		t.Error("process group survived a forced stop")
	}
}

func TestChildReportsExit(t *testing.T) {
	c, err := Start("test", filepath.Join(t.TempDir(), "test.log"), nil, "sh", "-c", "exit 3")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("child did not exit")
	}
	if c.Err() == nil {
		t.Error("exit 3 reported as success")
	}
}

// groupGone waits up to d for the group to have no live process. A killed
// process lingers as a zombie until its new parent reaps it; where /proc
// exists zombies do not count, elsewhere the group must be gone.
func groupGone(pgid int, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if !liveMembers(pgid) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func liveMembers(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return GroupAlive(pgid)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}
