// The gosym fixture: prints what Go's own runtime reports for a few known call
// stacks (runtime.Callers + runtime.CallersFrames), its /proc/self/maps, and then
// blocks one locked OS thread in a read(2) on a pipe so that a test can unwind that
// thread from outside. It exits when its stdin is closed.
package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	// Inlined: CallersFrames gives no *Func for an inlined call.
	Inlined bool `json:"inlined"`
}

type stackRecord struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// The PCs runtime.Callers returned (return addresses, virtual ones for
	// inlined calls included).
	PCs []uint64 `json:"pcs"`
	// For each PC on its own, the first frame runtime.CallersFrames gives.
	Single []frame `json:"single"`
	// runtime.CallersFrames over all PCs.
	Frames []frame `json:"frames"`
}

var out = bufio.NewWriter(os.Stdout)

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out.Write(b)
	out.WriteByte('\n')
}

func toFrame(f runtime.Frame) frame {
	return frame{Function: f.Function, File: f.File, Line: f.Line, Inlined: f.Func == nil}
}

func record(name string, pcs []uintptr) {
	r := stackRecord{Kind: "stack", Name: name}
	for _, pc := range pcs {
		r.PCs = append(r.PCs, uint64(pc))
		f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		r.Single = append(r.Single, toFrame(f))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		r.Frames = append(r.Frames, toFrame(f))
		if !more {
			break
		}
	}
	emit(r)
}

//go:noinline
func leaf(n int) []uintptr {
	pcs := make([]uintptr, 64+n%2)
	return pcs[:runtime.Callers(0, pcs)]
}

// inlinedHelper is small enough for the compiler to inline into its callers.
func inlinedHelper(n int) []uintptr {
	return leaf(n + 1)
}

// inlinedOuter calls inlinedHelper; both get inlined into twoLevels.
func inlinedOuter(n int) []uintptr {
	return inlinedHelper(n * 3)
}

//go:noinline
func middle(n int) []uintptr {
	return inlinedHelper(n * 2)
}

//go:noinline
func outer() []uintptr {
	return middle(3)
}

//go:noinline
func twoLevels(n int) []uintptr {
	return inlinedOuter(n + 5)
}

//go:noinline
func generic[T any](v T) []uintptr {
	_ = v
	return leaf(7)
}

type counter struct{ n int }

//go:noinline
func (c *counter) method() []uintptr {
	c.n++
	return leaf(c.n)
}

// blockInRead parks its locked OS thread in read(2) on fd until something is
// written or the fd is closed.
//
//go:noinline
func blockInRead(fd int, tid chan<- int) int {
	var buf [1]byte
	tid <- syscall.Gettid()
	n, _ := syscall.Read(fd, buf[:])
	return n
}

// blocker is called through an interface holding *embedsBlocker, so that the call
// goes through the compiler-generated wrapper main.(*embedsBlocker).block, a frame
// Go's tracebacks leave out.
type blocker interface {
	block(fd int, tid chan<- int) int
}

type readBlocker struct{ calls int }

//go:noinline
func (r readBlocker) block(fd int, tid chan<- int) int {
	return blockInRead(fd, tid) + r.calls
}

type embedsBlocker struct {
	name string
	readBlocker
}

var theBlocker blocker = &embedsBlocker{name: "reader"}

// readerTraceback waits until the goroutine in blockInRead is in its system call and
// returns the runtime's own traceback of it.
func readerTraceback() string {
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(all, "\n\n") {
			if strings.Contains(g, "main.blockInRead(") && strings.Contains(g, "[syscall") {
				return g
			}
		}
		if time.Now().After(deadline) {
			panic("the reader goroutine never entered its system call:\n" + all)
		}
		time.Sleep(time.Millisecond)
	}
}

func main() {
	record("outer", outer())
	record("twoLevels", twoLevels(1))
	record("generic", generic[int](1))
	record("method", (&counter{}).method())
	record("closure", func() []uintptr { return middle(9) }())

	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	tid := make(chan int)
	go func() {
		runtime.LockOSThread()
		theBlocker.block(p[0], tid)
	}()
	t := <-tid

	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		panic(err)
	}
	emit(map[string]any{"kind": "maps", "maps": string(maps)})
	emit(map[string]any{"kind": "blocked", "tid": t, "pid": os.Getpid(), "traceback": readerTraceback()})
	out.Flush()

	io.Copy(io.Discard, os.Stdin)
	syscall.Write(p[1], []byte{0})
}
