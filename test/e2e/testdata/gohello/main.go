// Command gohello is a static Go program for the e2e tests: it prints its
// arguments and one environment variable, then exits 4.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello from go")
	fmt.Println("args:", len(os.Args), os.Args[1:])
	fmt.Println("BZ_E2E:", os.Getenv("BZ_E2E"))
	os.Exit(4)
}
