// attrib gives the latency attribution known causes. Modes:
//
//	cpu   goroutines that compute and make a syscall between slices of work, for
//	      -seconds (a CPU-and-syscall program: under a CPU quota it is throttled, next
//	      to busy loops on its CPU it waits for the scheduler)
//	read  read every file under -dir -rounds times (on a slow filesystem the time
//	      goes to it), with a stat of each before reading
//	files file I/O and sleeps only: write, read back and remove a temp file, sleep
//	      50 ms, five times (no network at all)
//	walk  what a build does to a source tree: walk -dir and its subdirectories, stat
//	      and read every file, -rounds times
//
// With -wait-signal it prints "ready" and waits for SIGUSR1 first.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	mode := flag.String("mode", "cpu", "cpu|read")
	seconds := flag.Float64("seconds", 3, "cpu: how long")
	goroutines := flag.Int("goroutines", 2, "cpu: goroutines")
	dir := flag.String("dir", ".", "read: directory")
	rounds := flag.Int("rounds", 3, "read: passes over the files")
	waitSignal := flag.Bool("wait-signal", false, "print ready, wait for SIGUSR1")
	flag.Parse()

	if *waitSignal {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		fmt.Println("ready")
		<-ch
	}
	switch *mode {
	case "cpu":
		cpu(time.Duration(*seconds*float64(time.Second)), *goroutines)
	case "read":
		read(*dir, *rounds)
	case "files":
		files()
	case "walk":
		walk(*dir, *rounds)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", *mode)
		os.Exit(1)
	}
	fmt.Printf("done gomaxprocs=%d\n", runtime.GOMAXPROCS(0))
}

func cpu(d time.Duration, goroutines int) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 1
			for time.Now().Before(deadline) {
				for i := 0; i < 200000; i++ {
					x = x*31 + i
				}
				syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			}
			_ = x
		}()
	}
	wg.Wait()
}

func files() {
	for i := 0; i < 5; i++ {
		f, err := os.CreateTemp("", "gotrace-files")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f.Write(make([]byte, 4096))
		f.Close()
		if _, err := os.ReadFile(f.Name()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Remove(f.Name())
		time.Sleep(50 * time.Millisecond)
	}
}

func read(dir string, rounds int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n := 0
	for r := 0; r < rounds; r++ {
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if _, err := os.Stat(p); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			n += len(b)
		}
	}
	fmt.Printf("read %d bytes\n", n)
}

func walk(dir string, rounds int) {
	files, n := 0, 0
	for r := 0; r < rounds; r++ {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if _, err := os.Stat(p); err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			n += len(b)
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("walked %d files, %d bytes\n", files, n)
}
