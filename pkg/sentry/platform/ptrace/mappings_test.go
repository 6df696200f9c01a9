//go:build linux && amd64

package ptrace

import (
	"math/rand"
	"testing"
)

// TestMappings checks mappings against a page array under random sets and
// punches.
func TestMappings(t *testing.T) {
	const pages = 64
	var ref [pages]int // prot+1, 0 for unmapped
	var m mappings
	r := rand.New(rand.NewSource(1))
	for it := 0; it < 20000; it++ {
		a := r.Intn(pages)
		b := a + 1 + r.Intn(pages-a)
		if r.Intn(3) == 0 {
			m = m.punch(uintptr(a)*pageSize, uintptr(b)*pageSize)
			for p := a; p < b; p++ {
				ref[p] = 0
			}
		} else {
			prot := r.Intn(8)
			m = m.set(uintptr(a)*pageSize, uintptr(b)*pageSize, prot)
			for p := a; p < b; p++ {
				ref[p] = prot + 1
			}
		}
		for i := 1; i < len(m); i++ {
			if m[i-1].end > m[i].start || m[i].start >= m[i].end {
				t.Fatalf("iteration %d: unsorted or overlapping: %v", it, m)
			}
		}
		for p := 0; p < pages; p++ {
			prot, ok := m.protAt(uintptr(p)*pageSize + 100)
			want := ref[p]
			if ok != (want != 0) || ok && prot != want-1 {
				t.Fatalf("iteration %d page %d: got %d %v, want %d", it, p, prot, ok, want-1)
			}
		}
	}
}
