// stuck blocks in one syscall for good, the way a hung program does, so a tracer can
// be asked what it waits on:
//
//	-fifo PATH  read(2) on a named pipe that nobody writes to
//	-file PATH  read(2) of a file (on a slow filesystem, the read that hangs)
//
// It prints "blocking" just before the call. The raw syscalls keep the Go runtime's
// poller out of it: the thread itself sleeps in the kernel.
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
)

func main() {
	fifo := flag.String("fifo", "", "named pipe to read")
	file := flag.String("file", "", "file to read")
	flag.Parse()

	var fd int
	var err error
	switch {
	case *fifo != "":
		// O_RDWR: opening a FIFO for reading alone would block in open until a writer
		// comes; with a write end of its own, the open returns and the read waits.
		fd, err = syscall.Open(*fifo, syscall.O_RDWR, 0)
	case *file != "":
		fd, err = syscall.Open(*file, syscall.O_RDONLY, 0)
	default:
		fmt.Fprintln(os.Stderr, "stuck: -fifo or -file")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stuck:", err)
		os.Exit(1)
	}
	fmt.Println("blocking")
	buf := make([]byte, 4096)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			fmt.Fprintln(os.Stderr, "stuck: read returned", n, err)
			os.Exit(1)
		}
		if *file != "" {
			// Read the file again from the start: every read goes to the filesystem.
			syscall.Seek(fd, 0, 0)
		}
	}
}
