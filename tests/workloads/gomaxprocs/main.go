// gomaxprocs prints "ready N" (N being its GOMAXPROCS) and sleeps, so a test can read
// the runtime's value from the outside (tracer/src/context/goprocs.rs). With -set N it
// first calls runtime.GOMAXPROCS(N), so the value comes from neither the environment nor
// the CPU count.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

func main() {
	set := flag.Int("set", 0, "call runtime.GOMAXPROCS(N) first (0: leave it alone)")
	sleep := flag.Duration("sleep", 30*time.Second, "how long to sleep after printing ready")
	flag.Parse()
	if *set > 0 {
		runtime.GOMAXPROCS(*set)
	}
	fmt.Println("ready", runtime.GOMAXPROCS(0))
	time.Sleep(*sleep)
}
