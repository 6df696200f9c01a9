package runtimes

// KnownFailures lists the cases that do not yet behave in the sandbox as
// they do natively, keyed "image/case" (as in the test names), each with
// what fails. A listed case that fails is skipped with the difference; one
// that passes fails the run, so the list only shrinks.
var KnownFailures = map[string]Known{}
