//go:build unix && !linux

package procs

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal: a supervisor killed by SIGKILL leaves its children running there.
func setParentDeathSignal(*syscall.SysProcAttr) {}
