package main

import "syscall"

// setParentDeathSignal makes the kernel kill the child if the runner dies
// (even by SIGKILL) before stopping it.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
