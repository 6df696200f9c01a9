//go:build ignore

// (The constraint above keeps the Go tool, which rejects C files in a
// package without cgo, away from this file; gen.sh compiles it.)

// Buffer Zone's vDSO: clock_gettime, gettimeofday, time, clock_getres and
// getcpu without a trap into the Sentry.
//
// The Sentry publishes, in the parameter page mapped just below this image
// ("[vvar]"), a linear map from the TSC to nanoseconds for each clock it
// serves. A reader samples the TSC and applies the map under a sequence
// counter: an odd count means the Sentry is rewriting the page. Anything this
// code does not serve (CPU-time clocks, bad ids, a page that says "fall
// back", a writer that takes too long) becomes the real system call, which
// traps into the Sentry as it would without a vDSO.
//
// Built with -nostdlib: no libc, no relocations, no writable data. The layout
// of the page is mirrored by params.go; keep the two in step.

typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;

#define NUM_CLOCKS 8
#define FLAG_FALLBACK 1u
#define MAX_SPINS 4096

#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229

// One clock: ns(tsc) = base_ns + ((tsc - base_tsc) * mult) >> shift.
struct bz_clock {
	s64 base_ns;
	u64 base_tsc;
	u64 mult;
	u32 shift;
	u32 res_ns;
};

// The parameter page. Offsets are fixed: params.go writes them.
struct bz_params {
	u32 seq;
	u32 flags;
	u32 served; // bit i set: clock id i is computed here
	u32 reserved[13];
	struct bz_clock clock[NUM_CLOCKS]; // at offset 64
};

// bz_vvar is defined by the linker script one page below the image, so it is
// reached PC-relatively wherever the image is mapped.
extern const volatile struct bz_params bz_vvar __attribute__((visibility("hidden")));

struct bz_timespec {
	s64 tv_sec;
	s64 tv_nsec;
};

struct bz_timeval {
	s64 tv_sec;
	s64 tv_usec;
};

struct bz_timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

#define barrier() __asm__ __volatile__("" ::: "memory")

static inline long raw_syscall2(long nr, long a, long b) {
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "0"(nr), "D"(a), "S"(b)
			     : "rcx", "r11", "memory");
	return ret;
}

// read_tsc reads the TSC after every earlier load has completed, and before
// any later one starts: the second read of the sequence counter must come
// after the TSC sample for an update's boundary to be seen.
static inline u64 read_tsc(void) {
	u32 lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
	return ((u64)hi << 32) | lo;
}

// read_ns computes clock id's current value in nanoseconds. It returns 0 if
// the caller must make the system call instead.
static inline int read_ns(unsigned int id, s64 *ns) {
	const volatile struct bz_params *p = &bz_vvar;
	if (id >= NUM_CLOCKS) {
		return 0;
	}
	for (int spins = 0; spins < MAX_SPINS; spins++) {
		u32 seq = p->seq;
		barrier();
		if (seq & 1) {
			__asm__ __volatile__("pause");
			continue;
		}
		if ((p->flags & FLAG_FALLBACK) || !((p->served >> id) & 1)) {
			return 0;
		}
		const volatile struct bz_clock *c = &p->clock[id];
		s64 base = c->base_ns;
		u64 base_tsc = c->base_tsc;
		u64 mult = c->mult;
		u32 shift = c->shift;
		u64 tsc = read_tsc();
		barrier();
		if (p->seq != seq) {
			continue;
		}
		// A TSC just behind base_tsc (another CPU's, a sample taken
		// as the page changed) counts as base_tsc: never go back.
		u64 delta = tsc > base_tsc ? tsc - base_tsc : 0;
		*ns = base + (s64)(((unsigned __int128)delta * mult) >> (shift & 127));
		return 1;
	}
	return 0;
}

static inline void split_ns(s64 ns, s64 *sec, s64 *rem) {
	s64 s = ns / 1000000000L;
	s64 r = ns % 1000000000L;
	if (r < 0) {
		r += 1000000000L;
		s--;
	}
	*sec = s;
	*rem = r;
}

int __vdso_clock_gettime(int id, struct bz_timespec *ts) {
	s64 ns;
	if (read_ns((unsigned int)id, &ns)) {
		split_ns(ns, &ts->tv_sec, &ts->tv_nsec);
		return 0;
	}
	return (int)raw_syscall2(SYS_clock_gettime, id, (long)ts);
}

int __vdso_gettimeofday(struct bz_timeval *tv, struct bz_timezone *tz) {
	s64 ns;
	if (tv == 0 || !read_ns(0, &ns)) {
		return (int)raw_syscall2(SYS_gettimeofday, (long)tv, (long)tz);
	}
	s64 sec, rem;
	split_ns(ns, &sec, &rem);
	tv->tv_sec = sec;
	tv->tv_usec = rem / 1000;
	if (tz != 0) {
		// The sandbox runs in UTC, as the Sentry's gettimeofday says.
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

long __vdso_time(long *t) {
	s64 ns;
	if (!read_ns(0, &ns)) {
		return raw_syscall2(SYS_time, (long)t, 0);
	}
	s64 sec, rem;
	split_ns(ns, &sec, &rem);
	if (t != 0) {
		*t = sec;
	}
	return sec;
}

int __vdso_clock_getres(int id, struct bz_timespec *res) {
	const volatile struct bz_params *p = &bz_vvar;
	unsigned int u = (unsigned int)id;
	if (u >= NUM_CLOCKS || !((p->served >> u) & 1)) {
		return (int)raw_syscall2(SYS_clock_getres, id, (long)res);
	}
	if (res != 0) {
		res->tv_sec = 0;
		res->tv_nsec = p->clock[u].res_ns;
	}
	return 0;
}

// __vdso_getcpu reports CPU 0 and node 0, as the Sentry's getcpu does.
long __vdso_getcpu(unsigned int *cpu, unsigned int *node, void *unused) {
	(void)unused;
	if (cpu != 0) {
		*cpu = 0;
	}
	if (node != 0) {
		*node = 0;
	}
	return 0;
}

// The names without the prefix, as Linux's vDSO also exports them.
int clock_gettime(int, struct bz_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct bz_timeval *, struct bz_timezone *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct bz_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned int *, unsigned int *, void *) __attribute__((weak, alias("__vdso_getcpu")));
