package procs

import "syscall"

// setParentDeathSignal makes the kernel kill the child if the supervisor
// dies (even by SIGKILL) before stopping it.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
