// demo is the workload `cargo xtask demo` traces: a little of everything a Go service
// does. An HTTP server and client on loopback (netpoll), file writes and fsyncs, timers,
// a child process, and some deliberately slow calls.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "how long to run")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		io.WriteString(w, "hello from gotrace's demo\n")
	})
	go http.Serve(ln, mux)

	dir, err := os.MkdirTemp("", "gotrace-demo")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)

	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	var requests, writes int
	wg.Add(2)
	go func() { // client
		defer wg.Done()
		url := "http://" + ln.Addr().String() + "/"
		for time.Now().Before(deadline) {
			resp, err := http.Get(url)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				requests++
			}
		}
	}()
	go func() { // files
		defer wg.Done()
		for i := 0; time.Now().Before(deadline); i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i%10)))
			if err != nil {
				continue
			}
			f.Write(make([]byte, 64*1024))
			f.Sync()
			f.Close()
			writes++
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		fmt.Printf("kernel %s", out)
	}
	wg.Wait()
	fmt.Printf("demo: %d requests, %d files written\n", requests, writes)
}
