// Package syscalls runs the C++ system call tests in linux/ natively and
// under each runsc platform, and compares the results case by case: every
// case that passes natively must pass in the sandbox, unless the skip list in
// skips.go names it with a reason and an issue.
//
// The package's non-test files hold the pieces the runner is made of (the
// gtest output parsers, the cached compiler driver, the skip list) so that
// they can be tested on their own. See README.md for how to run and extend
// the suite.
package syscalls
