// Command gohttp is a static Go program for the e2e tests: a net/http
// server on 127.0.0.1 and a client in the same process that sends N
// requests concurrently (N is the first argument) and checks every body.
// It prints a summary that does not depend on ports or timing and exits 1
// on any failure.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gohttp:", err)
		os.Exit(1)
	}
}

func run() error {
	n := 100
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil {
			return fmt.Errorf("request count: %w", err)
		}
		n = v
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "reply %s %s", r.PathValue("id"), r.Header.Get("X-Token"))
	})
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	base := "http://" + l.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- get(client, base, i)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Printf("requests %d ok %d\n", n, n-failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, n)
	}
	return nil
}

// get fetches request i and checks that the body echoes its id and token.
func get(c *http.Client, base string, i int) error {
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/echo/%d", base, i), nil)
	if err != nil {
		return err
	}
	tok := strconv.Itoa(i * 7919)
	req.Header.Set("X-Token", tok)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("request %d: %w", i, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("request %d: reading body: %w", i, err)
	}
	if want := fmt.Sprintf("reply %d %s", i, tok); resp.StatusCode != http.StatusOK || string(body) != want {
		return fmt.Errorf("request %d: status %d body %q, want 200 %q", i, resp.StatusCode, body, want)
	}
	return nil
}
