package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ResetPeakRSS resets the kernel's high-water mark of this process's
// resident memory (Linux: writing 5 to clear_refs), so a benchmark's peak
// excludes the set-up before it.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakRSSMB is the process's peak resident memory since start or the last
// reset, in MiB.
func PeakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}
