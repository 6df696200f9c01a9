// Package e2e tests the runsc command line end to end: `runsc do` runs real
// programs (a static C program and a static Go program built by the tests,
// the host's dynamic binaries, busybox applets) and their output and exit
// status must match a native run. See README.md.
package e2e
