// exact makes a known number of syscalls that the Go runtime itself never makes, so a
// tracer's counts can be checked exactly:
//
//	getppid          goroutines x n calls (syscall.RawSyscall)
//	clock_nanosleep  sleeps calls of sleep-ms each
//	open             enoent calls on a missing path, each failing with ENOENT
//
// With -wait-signal it prints "ready" and waits for SIGUSR1 before working, so a tracer
// can attach first. With -linger it then sleeps until killed.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	goroutines := flag.Int("goroutines", 4, "goroutines calling getppid")
	n := flag.Int("n", 25000, "getppid calls per goroutine")
	sleeps := flag.Int("sleeps", 5, "clock_nanosleep calls")
	sleepMs := flag.Int("sleep-ms", 20, "length of each sleep (ms)")
	enoent := flag.Int("enoent", 7, "open(2) calls on a missing file")
	waitSignal := flag.Bool("wait-signal", false, "print ready, wait for SIGUSR1 before working")
	linger := flag.Bool("linger", false, "sleep until killed after the work")
	flag.Parse()

	if *waitSignal {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		fmt.Println("ready")
		<-ch
	}

	var wg sync.WaitGroup
	for g := 0; g < *goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			}
		}()
	}
	wg.Wait()

	retries := 0
	for i := 0; i < *sleeps; i++ {
		// clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem); the runtime's own sleeps use
		// nanosleep and futex, never this. A signal (the runtime's SIGURG preemption)
		// can interrupt it: sleep the rest, and report the extra calls.
		ts := syscall.Timespec{Sec: int64(*sleepMs / 1000), Nsec: int64(*sleepMs%1000) * 1e6}
		for {
			var rem syscall.Timespec
			_, _, errno := syscall.Syscall6(syscall.SYS_CLOCK_NANOSLEEP, 1, 0, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&rem)), 0, 0)
			if errno == syscall.EINTR {
				retries++
				ts = rem
				continue
			}
			if errno != 0 {
				fmt.Fprintln(os.Stderr, "clock_nanosleep:", errno)
				os.Exit(1)
			}
			break
		}
	}

	path, _ := syscall.BytePtrFromString("/nonexistent/gotrace-exact")
	for i := 0; i < *enoent; i++ {
		// open(2), not openat: the runtime and os package only use openat.
		_, _, errno := syscall.Syscall(syscall.SYS_OPEN, uintptr(unsafe.Pointer(path)), syscall.O_RDONLY, 0)
		if errno != syscall.ENOENT {
			fmt.Fprintln(os.Stderr, "open: expected ENOENT, got", errno)
			os.Exit(1)
		}
	}
	fmt.Printf("done sleep-retries=%d\n", retries)
	if *linger {
		for {
			time.Sleep(time.Hour)
		}
	}
}
