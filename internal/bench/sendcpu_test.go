package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux that matters).
const clockTicks = 100

// procCPU is a process's user+system CPU in seconds, from /proc; -1 when
// unreadable.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / clockTicks
}

// selfCPU is this process's user+system CPU in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// backendCPU maps each PostgreSQL backend serving this database to its CPU
// seconds so far, so a phase's database work can be told from other users
// of a shared server (background writers are not counted).
func backendCPU(ctx context.Context, pool *pgxpool.Pool) map[int]float64 {
	out := map[int]float64{}
	rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if c := procCPU(pid); c >= 0 {
				out[pid] = c
			}
		}
	}
	return out
}

// cpuSince sums the CPU the backends in now used since before.
func cpuSince(before, now map[int]float64) float64 {
	var t float64
	for pid, c := range now {
		t += c - before[pid]
	}
	return t
}
