// Command goprocs exercises the Go runtime's use of threads, timers, child
// processes and signals: 1000 goroutines, time.Sleep and time.After, os/exec
// of /bin/echo, and os/signal catching SIGUSR1 sent to itself. Its output
// does not depend on timing.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	fmt.Println("GOMAXPROCS:", runtime.GOMAXPROCS(0))

	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			sum += i
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	fmt.Println("goroutines: sum", sum)

	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	<-time.After(10 * time.Millisecond)
	fmt.Println("timers: slept enough:", time.Since(start) >= 30*time.Millisecond)

	out, err := exec.Command("/bin/echo", "from", "exec").Output()
	fmt.Printf("exec: %q err=%v\n", out, err)
	err = exec.Command("/bin/false").Run()
	fmt.Println("exec false:", err)

	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case s := <-ch:
		fmt.Println("signal:", s)
	case <-time.After(20 * time.Second):
		fmt.Println("signal: none")
		os.Exit(1)
	}
}
