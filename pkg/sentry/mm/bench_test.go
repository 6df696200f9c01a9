package mm

import (
	"testing"

	"bufferzone.dev/pkg/sentry/platform"
)

// BenchmarkFaultChunk measures resolving the first fault in a fresh chunk
// (allocation, PMA bookkeeping and one MapFile on the fake platform).
func BenchmarkFaultChunk(b *testing.B) {
	mm, _ := newMM(b)
	const a = 0x100000000
	const chunks = 4096 // 1 GiB
	if _, err := mm.MMap(anon(a, chunks*faultChunk, rw)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunks == 0 && i > 0 {
			b.StopTimer()
			mm.MAdvise(a, chunks*faultChunk, 4 /* MADV_DONTNEED */)
			b.StartTimer()
		}
		if err := mm.HandleFault(a+uintptr(i%chunks)*faultChunk, platform.ReadWrite); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyOut4K measures a 4 KiB CopyOut to populated memory.
func BenchmarkCopyOut4K(b *testing.B) {
	mm, _ := newMM(b)
	const a = 0x100000000
	if _, err := mm.MMap(anon(a, 1<<20, rw)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	mm.CopyOut(a, buf)
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mm.CopyOut(a+uintptr(i%64)*4096, buf); err != nil {
			b.Fatal(err)
		}
	}
}
