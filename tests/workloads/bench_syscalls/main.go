// bench_syscalls is workload S of `cargo xtask bench`: syscall-heavy. Each of
// -goroutines goroutines issues -n getppid calls with syscall.RawSyscall (no scheduler
// hand-off, so the loop measures the syscall path alone) and times its own loop. It
// prints one machine-readable line on stdout:
//
//	ns_per_syscall=275.3 calls=2000000 elapsed_ns=301234567 rate=6639321
//
// ns_per_syscall is the mean over goroutines of (wall time of its loop / its calls);
// rate is all calls / wall time of the slowest loop (calls per second, all goroutines).
//
// With -rate R (calls per second, all goroutines together) the loops are paced: each
// goroutine issues its share in small batches and sleeps when it is ahead, so a tracer
// can be fed a known stream of syscalls. ns_per_syscall is then meaningless.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "getppid calls per goroutine")
	goroutines := flag.Int("goroutines", 2, "goroutines calling getppid")
	rate := flag.Float64("rate", 0, "pace to this many calls per second, all goroutines together (0: as fast as possible)")
	flag.Parse()
	if *n <= 0 || *goroutines <= 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "bench_syscalls: -n and -goroutines must be > 0, -rate >= 0")
		os.Exit(2)
	}

	elapsed := make([]time.Duration, *goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < *goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-start
			t0 := time.Now()
			if *rate > 0 {
				paced(*n, *rate/float64(*goroutines), t0)
			} else {
				for i := 0; i < *n; i++ {
					syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
				}
			}
			elapsed[g] = time.Since(t0)
		}(g)
	}
	close(start)
	wg.Wait()

	var sumNs float64
	var slowest time.Duration
	for _, e := range elapsed {
		sumNs += float64(e.Nanoseconds()) / float64(*n)
		if e > slowest {
			slowest = e
		}
	}
	calls := *n * *goroutines
	fmt.Printf("ns_per_syscall=%.1f calls=%d elapsed_ns=%d rate=%.0f\n",
		sumNs/float64(*goroutines), calls, slowest.Nanoseconds(),
		float64(calls)/slowest.Seconds())
}

// paced issues n calls at perSec calls per second: it catches up to the schedule in
// batches of at most 1 ms worth of calls, and sleeps when it is ahead of it.
func paced(n int, perSec float64, t0 time.Time) {
	batch := int(perSec / 1000)
	if batch < 1 {
		batch = 1
	}
	done := 0
	for done < n {
		due := int(time.Since(t0).Seconds() * perSec)
		if due > n {
			due = n
		}
		if done >= due {
			next := time.Duration(float64(done+1) / perSec * float64(time.Second))
			time.Sleep(next - time.Since(t0))
			continue
		}
		todo := due - done
		if todo > batch {
			todo = batch
		}
		for i := 0; i < todo; i++ {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		done += todo
	}
}
