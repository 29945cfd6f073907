package etcdtest

import "syscall"

// sysProcAttr asks Linux to kill etcd when the test process dies without
// running its cleanups (a test timeout, a SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
