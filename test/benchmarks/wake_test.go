package benchmarks

import "testing"

// The wake-up benchmarks: one process blocks and another wakes it, in a
// ping-pong, through the objects a database server and its clients wait on
// (testdata/wake_loop.c). Pipes, epoll and threads sharing a futex are in
// proc_test.go and threads_test.go. Each reports the mean round trip in the
// sandbox and natively in the same iteration, and their ratio:
//
//	go test ./test/benchmarks -run '^$' -bench 'Wake' -benchtime 5x

// BenchmarkUnixSocketWake reports a one-byte round trip over a Unix stream
// socketpair between two processes, each side blocking in read.
func BenchmarkUnixSocketWake(b *testing.B) {
	benchLoop(b, buildStatic(b, "wake_loop"), "unix", "2000", "µs")
}

// BenchmarkPollWake reports the same round trip with the first process
// blocking in poll before each read, as a client waits for its server.
func BenchmarkPollWake(b *testing.B) {
	benchLoop(b, buildStatic(b, "wake_loop"), "poll", "2000", "µs")
}

// BenchmarkSharedFutexWake reports a round trip between two processes
// through a futex word in MAP_SHARED memory (process-shared semaphores and
// mutexes).
func BenchmarkSharedFutexWake(b *testing.B) {
	benchLoop(b, buildStatic(b, "wake_loop"), "shmfutex", "2000", "µs")
}
