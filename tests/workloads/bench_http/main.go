// bench_http is workload H of `cargo xtask bench`: a net/http server on loopback and
// the client that loads it, in two modes of one binary (the client runs untraced, in its
// own process).
//
//	bench_http -mode server [-addr 127.0.0.1:0]
//	    prints "listening=127.0.0.1:PORT" on stdout, serves until killed
//	bench_http -mode client -url http://127.0.0.1:PORT/ [-c 16] [-duration 3s] [-warmup 500ms] [-rate R]
//	    -c workers, each with its own keep-alive connection, send requests back to back
//	    (a closed loop: a fixed load), or with -rate paced to R requests per second in
//	    all (an open loop: each worker sends on its own schedule, at once when it is
//	    behind it); after the warm-up it counts for -duration, then prints one line on
//	    stdout:
//	    rps=12345.6 p50_us=410.2 p99_us=1234.5 requests=37037 errors=0
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	mode := flag.String("mode", "", "server or client")
	addr := flag.String("addr", "127.0.0.1:0", "server: listen address")
	url := flag.String("url", "", "client: the URL to load")
	conc := flag.Int("c", 16, "client: concurrent workers (one connection each)")
	duration := flag.Duration("duration", 3*time.Second, "client: measured time")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "client: unmeasured time first")
	rate := flag.Float64("rate", 0, "client: requests per second, all workers together (0: back to back)")
	flag.Parse()
	switch *mode {
	case "server":
		serve(*addr)
	case "client":
		if *url == "" || *conc <= 0 || *duration <= 0 || *rate < 0 {
			fail("client needs -url, -c > 0, -duration > 0 and -rate >= 0")
		}
		load(*url, *conc, *warmup, *duration, *rate)
	default:
		fail("-mode must be server or client")
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "bench_http:", msg)
	os.Exit(2)
}

// item is what the server encodes for every request: a little real work per call.
type item struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Score float64  `json:"score"`
}

func serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err.Error())
	}
	items := make([]item, 16)
	for i := range items {
		items[i] = item{ID: i, Name: fmt.Sprintf("item-%d", i), Tags: []string{"a", "b", "c"}, Score: float64(i) * 1.5}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(items); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	fmt.Printf("listening=%s\n", ln.Addr())
	if err := http.Serve(ln, mux); err != nil {
		fail(err.Error())
	}
}

func load(url string, conc int, warmup, duration time.Duration, rate float64) {
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc},
		Timeout:   10 * time.Second,
	}
	begin := time.Now().Add(warmup)
	end := begin.Add(duration)
	lat := make([][]time.Duration, conc)
	errs := make([]int, conc)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// With -rate, the worker's k-th request is due at start + (k + w/conc) *
			// interval: the workers' schedules interleave evenly.
			start := time.Now()
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(float64(conc) / rate * float64(time.Second))
			}
			for k := 0; ; k++ {
				if interval > 0 {
					due := start.Add(time.Duration((float64(k) + float64(w)/float64(conc)) * float64(interval)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
				}
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				err := get(client, url)
				if t0.Before(begin) {
					continue
				}
				if err != nil {
					errs[w]++
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()

	var all []time.Duration
	nerr := 0
	for w := range lat {
		all = append(all, lat[w]...)
		nerr += errs[w]
	}
	if len(all) == 0 {
		fail(fmt.Sprintf("no successful request (%d errors)", nerr))
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		i := int(p * float64(len(all)-1))
		return float64(all[i].Nanoseconds()) / 1e3
	}
	fmt.Printf("rps=%.1f p50_us=%.1f p99_us=%.1f requests=%d errors=%d\n",
		float64(len(all))/duration.Seconds(), pct(0.50), pct(0.99), len(all), nerr)
}

func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
