//go:build !linux

package geo

import "time"

func threadCPUTime() time.Duration { return 0 }
