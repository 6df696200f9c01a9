package runtimes

// KnownFailures lists the cases that do not yet behave in the sandbox as
// they do natively, keyed "image/case" (as in the test names), each with
// what fails. A listed case that fails is skipped with the difference; one
// that passes fails the run, so the list only shrinks.
var KnownFailures = map[string]Known{
	"python/signalfd-wakeup": {Reason: "a signal that arrives while the task waits in epoll_wait/poll/select on a signalfd " +
		"does not wake it (the signalfd is readable only for waits that start after the signal): Postgres's latches"},
	"python/prctl-capbset-read": {Reason: "prctl(PR_CAPBSET_READ, cap) = EINVAL for every valid cap (0..40); " +
		"Linux returns 1 or 0 (in the bounding set or not) and EINVAL only past CAP_LAST_CAP"},
	"postgres/initdb-config": {Reason: "initdb picks dynamic_shared_memory_type = sysv, not posix: its probe " +
		"openat(\"/dev/shm/PostgreSQL.N\", O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW) = EPERM (/dev/shm is not a tmpfs)"},
	"postgres/pgbench": {Reason: "pgbench -c 4 -j 2 hangs (Unix socket and TCP alike): a backend waits for ever in " +
		"epoll_wait on its signalfd for SIGURG after another backend's kill(pid, SIGURG), the lost wakeup of " +
		"python/signalfd-wakeup; on systrap it recovers at ~40 tps instead of ~1000"},
	"python/multiprocessing": {Reason: "sem_open: openat(\"/dev/shm/sem.XXXXXX\", O_RDWR|O_CREAT|O_EXCL) = EPERM: " +
		"the sandbox's /dev/shm is a directory of the dev file system where nothing can be created, not a tmpfs"},
}
