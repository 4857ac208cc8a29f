//go:build !linux

package bench

import "syscall"

// Off Linux there is no parent-death signal; the harness stops its
// children itself (and reads /proc, so it runs on Linux only).
func setParentDeathSignal(*syscall.SysProcAttr) {}
