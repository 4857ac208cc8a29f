//go:build unix && !linux

package main

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal: a runner killed by SIGKILL leaves its children running there.
func setParentDeathSignal(*syscall.SysProcAttr) {}
