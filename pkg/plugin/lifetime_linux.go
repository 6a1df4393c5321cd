package plugin

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal asks the kernel to SIGKILL the plugin process when
// the host dies. The signal follows the OS thread that forked the child,
// not the host process: Go's runtime keeps its threads for the process's
// life unless a goroutine locked to one exits, which the host never does
// around a start. Serve's parent watchdog covers what this misses.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
