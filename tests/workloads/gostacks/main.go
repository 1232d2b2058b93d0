// gostacks: goroutines making slow syscalls at known call sites, each printing its own
// view of where it is (goroutine id, runtime.CallersFrames) just before the call, on the
// same source line, so a tracer's stack for the call can be checked against it.
//
//	gostacks ROUNDS   each of three workers sleeps (nanosleep) and reads a pipe ROUNDS times
//
// The JSON lines go to $GOSTACKS_OUT when it is set, else to stdout.
//	gostacks stuck FIFO  the main goroutine blocks in read(2) on FIFO until a byte comes;
//	                     on SIGUSR1 the program prints its own traceback of every
//	                     goroutine (JSON)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

type frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Inlined  bool   `json:"inlined,omitempty"`
}

type site struct {
	Site   string  `json:"site"`
	Goid   uint64  `json:"goid"`
	Frames []frame `json:"frames"`
}

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// here reports the caller's stack: frames from the function that called here, outward.
func here(name string) {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	it := runtime.CallersFrames(pcs[:n])
	s := site{Site: name, Goid: goid()}
	for {
		f, more := it.Next()
		s.Frames = append(s.Frames, frame{f.Function, f.File, f.Line, f.Func == nil})
		if !more {
			break
		}
	}
	out.Lock()
	out.enc.Encode(s)
	out.Unlock()
}

// goid parses "goroutine N [running]:" from the goroutine's own trace.
func goid() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := strings.Fields(string(buf))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(f[1], 10, 64)
	return n
}

//go:noinline
func pause(ms int64) {
	ts := syscall.NsecToTimespec(ms * 1e6)
	here("pause"); syscall.Nanosleep(&ts, nil)
}

//go:noinline
func readSlow(fd int, buf []byte) {
	here("readSlow"); syscall.Read(fd, buf)
}

//go:noinline
func worker(rounds int, wg *sync.WaitGroup) {
	defer wg.Done()
	p := make([]int, 2)
	if err := syscall.Pipe(p); err != nil {
		panic(err)
	}
	// The writer writes 15 ms after it is told the reader is about to read: every read
	// waits at least that long.
	reading := make(chan struct{})
	go func() {
		for range reading {
			time.Sleep(15 * time.Millisecond)
			syscall.Write(p[1], []byte{1})
		}
	}()
	buf := make([]byte, 1)
	for i := 0; i < rounds; i++ {
		pause(20)
		reading <- struct{}{}
		readSlow(p[0], buf)
	}
	close(reading)
}

// readFd is small enough to be inlined into its caller: its frame is an inlined one.
func readFd(fd int, buf []byte) {
	syscall.Syscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), 1)
}

//go:noinline
func blockInRead(fd int) {
	buf := make([]byte, 1)
	readFd(fd, buf)
}

// tracebacks prints, at each SIGUSR1 on c, the runtime's own traceback of every
// goroutine.
func tracebacks(c chan os.Signal) {
	for range c {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		out.Lock()
		out.enc.Encode(map[string]string{"traceback": string(buf)})
		out.Unlock()
	}
}

func main() {
	// $GOSTACKS_OUT: where the JSON lines go (else stdout).
	if p := os.Getenv("GOSTACKS_OUT"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			panic(err)
		}
		out.enc = json.NewEncoder(f)
	}
	if len(os.Args) > 1 && os.Args[1] == "stuck" {
		// Registered before the read can be seen: a SIGUSR1 that came first would end
		// the program.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGUSR1)
		go tracebacks(c)
		// O_RDWR: the open does not wait for a writer; the read waits for a byte.
		fd, err := syscall.Open(os.Args[2], syscall.O_RDWR, 0)
		if err != nil {
			panic(err)
		}
		fmt.Fprintln(os.Stderr, "ready")
		blockInRead(fd)
		return
	}
	rounds := 3
	if len(os.Args) > 1 {
		rounds, _ = strconv.Atoi(os.Args[1])
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go worker(rounds, &wg)
	}
	wg.Wait()
}
