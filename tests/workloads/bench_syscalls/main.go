// bench_syscalls is workload S of `cargo xtask bench`: syscall-heavy. Each of
// -goroutines goroutines issues -n getppid calls with syscall.RawSyscall (no scheduler
// hand-off, so the loop measures the syscall path alone) and times its own loop. It
// prints one machine-readable line on stdout:
//
//	ns_per_syscall=275.3 cpu_ns_per_syscall=270.1 calls=2000000 elapsed_ns=301234567 rate=6639321
//
// ns_per_syscall is the mean over goroutines of (wall time of its loop / its calls);
// cpu_ns_per_syscall the same of the CPU time its thread spent in the loop (each
// goroutine is locked to its thread): what each call costs the caller, whatever else
// the machine runs meanwhile, where wall time also counts the time others took the CPU.
// rate is all calls / wall time of the slowest loop (calls per second, all goroutines).
//
// With -rate R (calls per second, all goroutines together) the loops are paced: each
// goroutine issues its share in small batches and sleeps when it is ahead, so a tracer
// can be fed a known stream of syscalls. ns_per_syscall is then meaningless.
//
// With -sleep DUR each goroutine instead calls syscall.Nanosleep for DUR, -n times (slow
// calls: -goroutines 1 -n 1000 -sleep 2ms is 1,000 sleeps of 2 ms); ns_per_syscall is
// then the wall time per sleep. The line is the same.
//
// With -wait-stdin the loops start only once standard input is closed, so a tracer can
// attach to the process first; it says so on stderr before it waits.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	n := flag.Int("n", 1000000, "getppid calls (or sleeps, with -sleep) per goroutine")
	goroutines := flag.Int("goroutines", 2, "goroutines calling getppid")
	rate := flag.Float64("rate", 0, "pace to this many calls per second, all goroutines together (0: as fast as possible)")
	sleep := flag.Duration("sleep", 0, "instead of getppid, call nanosleep for this long (0: getppid)")
	waitStdin := flag.Bool("wait-stdin", false, "start the loops once standard input is closed")
	flag.Parse()
	if *n <= 0 || *goroutines <= 0 || *rate < 0 || *sleep < 0 {
		fmt.Fprintln(os.Stderr, "bench_syscalls: -n and -goroutines must be > 0, -rate and -sleep >= 0")
		os.Exit(2)
	}
	if *sleep > 0 && *rate > 0 {
		fmt.Fprintln(os.Stderr, "bench_syscalls: -sleep and -rate exclude each other")
		os.Exit(2)
	}

	elapsed := make([]time.Duration, *goroutines)
	cpu := make([]time.Duration, *goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < *goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread()
			<-start
			c0 := threadCPU()
			t0 := time.Now()
			if *sleep > 0 {
				sleeps(*n, *sleep)
			} else if *rate > 0 {
				paced(*n, *rate/float64(*goroutines), t0)
			} else {
				for i := 0; i < *n; i++ {
					syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
				}
			}
			elapsed[g] = time.Since(t0)
			cpu[g] = threadCPU() - c0
		}(g)
	}
	if *waitStdin {
		fmt.Fprintln(os.Stderr, "bench_syscalls: waiting for standard input to close")
		if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "bench_syscalls: read standard input:", err)
			os.Exit(1)
		}
	}
	close(start)
	wg.Wait()

	var sumNs, sumCPUNs float64
	var slowest time.Duration
	for g, e := range elapsed {
		sumNs += float64(e.Nanoseconds()) / float64(*n)
		sumCPUNs += float64(cpu[g].Nanoseconds()) / float64(*n)
		if e > slowest {
			slowest = e
		}
	}
	calls := *n * *goroutines
	fmt.Printf("ns_per_syscall=%.1f cpu_ns_per_syscall=%.1f calls=%d elapsed_ns=%d rate=%.0f\n",
		sumNs/float64(*goroutines), sumCPUNs/float64(*goroutines), calls, slowest.Nanoseconds(),
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

// sleeps calls nanosleep n times for d each (an interrupted sleep is not resumed: a
// signal is rare, and the call is still one slow syscall).
func sleeps(n int, d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for i := 0; i < n; i++ {
		syscall.Nanosleep(&ts, nil)
	}
}

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
