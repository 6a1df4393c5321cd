//go:build !linux

package plugin

import "os/exec"

// setParentDeathSignal does nothing outside Linux, which alone has a
// parent-death signal; there Serve's parent watchdog stops a plugin whose
// host died.
func setParentDeathSignal(*exec.Cmd) {}
