package runsctest

import (
	"debug/elf"
	"testing"
)

// StaticBusybox returns the host's statically linked busybox (Debian's
// busybox-static), which runs in any root file system, or skips t.
func StaticBusybox(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p
		}
	}
	t.Skip("no static busybox (apt-get install busybox-static)")
	return ""
}
