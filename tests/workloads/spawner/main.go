// spawner runs itself as children through os/exec: each child makes -child-calls getppid
// calls and exits with code 3. The parent waits for each (Go >= 1.23 waits with a pidfd
// and waitid(P_PIDFD)).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	children := flag.Int("children", 3, "children to run, one after another")
	childCalls := flag.Int("child-calls", 1000, "getppid calls in each child")
	isChild := flag.Bool("child", false, "run as a child")
	flag.Parse()

	if *isChild {
		for i := 0; i < *childCalls; i++ {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		os.Exit(3)
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < *children; i++ {
		cmd := exec.Command(self, "-child", fmt.Sprintf("-child-calls=%d", *childCalls))
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			fmt.Fprintln(os.Stderr, "child: unexpected result:", err)
			os.Exit(1)
		}
	}
	fmt.Println("done")
}
