// sigchld exercises the SIGCHLD lifecycle. Modes:
//
//	notify  signal.Notify(SIGCHLD); start -children children that all exit at once
//	        while the parent is stopped (it sends itself SIGSTOP and waits for
//	        someone to SIGCONT it), so their SIGCHLDs coalesce; then reap them all
//	ignore  signal.Ignore(SIGCHLD): the kernel reaps the children, Wait gets ECHILD
//	noreap  start one child and never wait for it (prints "child PID")
//	hang    os/exec with a grandchild that inherits stdout and sleeps: Output() hangs
//	busy    CPU-bound goroutines for -seconds: the runtime preempts them with SIGURG
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	mode := flag.String("mode", "notify", "notify|ignore|noreap|hang|busy|child")
	children := flag.Int("children", 50, "children to start")
	seconds := flag.Float64("seconds", 2, "busy: how long")
	flag.Parse()

	switch *mode {
	case "child":
		// Exit when stdin reaches EOF (the parent closes it for all children at once).
		io.Copy(io.Discard, os.Stdin)
	case "notify":
		notify(*children)
	case "ignore":
		ignore(*children)
	case "noreap":
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		fmt.Printf("child %d\n", cmd.Process.Pid)
		time.Sleep(2 * time.Second)
	case "hang":
		out, err := exec.Command("sh", "-c", "sleep 30 & echo started").Output()
		fmt.Printf("output %q err %v\n", out, err)
	case "busy":
		busy(time.Duration(*seconds * float64(time.Second)))
	default:
		fail(fmt.Errorf("unknown mode %q", *mode))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sigchld:", err)
	os.Exit(1)
}

func self() string {
	p, err := os.Executable()
	if err != nil {
		fail(err)
	}
	return p
}

func notify(n int) {
	notes := make(chan os.Signal, n+1)
	signal.Notify(notes, syscall.SIGCHLD)
	cmds := make([]*exec.Cmd, n)
	stdins := make([]io.WriteCloser, n)
	for i := range cmds {
		cmds[i] = exec.Command(self(), "-mode=child")
		w, err := cmds[i].StdinPipe()
		if err != nil {
			fail(err)
		}
		stdins[i] = w
		if err := cmds[i].Start(); err != nil {
			fail(err)
		}
	}
	fmt.Println("stopping")
	// Release every child at once, then stop: the children exit while nothing in this
	// process can take a signal, so one SIGCHLD stays pending and the rest coalesce.
	for _, w := range stdins {
		w.Close()
	}
	syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	reaped := 0
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			fail(err)
		}
		reaped++
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Printf("reaped %d notified %d\n", reaped, len(notes))
}

func ignore(n int) {
	signal.Ignore(syscall.SIGCHLD)
	echild := 0
	for i := 0; i < n; i++ {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		// The kernel reaped it already (or will): waiting fails with ECHILD.
		if err := cmd.Wait(); err != nil {
			echild++
		}
	}
	fmt.Printf("wait errors %d\n", echild)
}

func busy(d time.Duration) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	// More runnable goroutines than Ps: the scheduler must preempt them, and a tight
	// loop has no safe point, so it is preempted asynchronously with SIGURG.
	for g := 0; g < 4*runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for time.Now().Before(deadline) {
				for i := 0; i < 1e7; i++ {
					x += i ^ (x >> 3)
				}
			}
			_ = x
		}()
	}
	wg.Wait()
	fmt.Println("done")
}
