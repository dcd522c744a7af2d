//go:build linux || darwin

package dataplane

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used: benchmarks report it
// beside the wall time, which a busy machine inflates.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
