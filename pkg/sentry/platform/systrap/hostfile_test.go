//go:build linux && amd64

package systrap

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
	"golang.org/x/sys/unix"
)

// Tests of MapHostFile: host files mapped straight into an application's
// address space, their descriptors held by the mapper alone.

// testHostFile is a platform.HostFile: a host file the test opened for
// reading.
type testHostFile struct {
	f    *os.File
	data []byte // the file's contents
}

// FD implements platform.HostFile.
func (h *testHostFile) FD() int { return int(h.f.Fd()) }

// qword returns the file's little-endian qword at off.
func (h *testHostFile) qword(off int) uint64 { return le.Uint64(h.data[off:]) }

// hostQword is qword q of page i of the host file tagged tag: every qword
// of every test file is different.
func hostQword(tag uint64, page, q int) uint64 {
	return tag<<40 | uint64(page)<<16 | uint64(q)
}

// execDir returns a directory for host files that allows executable
// mappings; it skips t if the test's temporary directory does not.
func execDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&unix.ST_NOEXEC != 0 {
		t.Skipf("%s is on a noexec mount", dir)
	}
	return dir
}

// hostData is the contents of a test host file of pages pages: qword q
// of page i is hostQword(tag, i, q).
func hostData(tag uint64, pages int) []byte {
	data := make([]byte, pages*pageSize)
	for i := 0; i < pages; i++ {
		for q := 0; q < pageSize/8; q++ {
			le.PutUint64(data[i*pageSize+q*8:], hostQword(tag, i, q))
		}
	}
	return data
}

// newHostFile creates a host file in dir with hostData(tag, pages) and
// opens it for reading.
func newHostFile(t testing.TB, dir string, tag uint64, pages int) *testHostFile {
	t.Helper()
	return writeHostFile(t, dir, fmt.Sprintf("host-%x", tag), hostData(tag, pages))
}

// writeHostFile creates the host file name in dir with data and opens it
// for reading.
func writeHostFile(t testing.TB, dir, name string, data []byte) *testHostFile {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &testHostFile{f: f, data: data}
}

// fileID identifies a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func fdID(t testing.TB, fd int) fileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fileID{st.Dev, st.Ino}
}

// Addresses of the host file mappings, free in the test application.
const (
	hostAddrA = 0x800000
	hostAddrB = 0x900000
	// hostAddrMany is where TestHostFileLimit maps its files, one page
	// each.
	hostAddrMany = 0x10000000
)

// Programs of the host file tests' code page (hostCode), at these
// offsets.
const (
	// progPeek: mov rsi, [rdi]; getpid.
	progPeek = 0x000
	// progPoke: mov [rdi], rsi; getpid.
	progPoke = 0x100
	// progHeader stores rsi, rdx, r10, r8, r9, rcx and rbx at rdi, rdi+8,
	// ... rdi+48 (a struct msghdr's fields: msg_name, msg_namelen,
	// msg_iov, msg_iovlen, msg_control, msg_controllen, msg_flags), then
	// calls getpid.
	progHeader = 0x200
	// progRacer stores 1 at racerMark and then makes progHeader's stores
	// for ever.
	progRacer = 0x300
	// progLoads: TestMapHostFile's loads, then a jump into file A.
	progLoads = 0x400

	racerMark = apptest.DataAddr + 0x600

	// hostCodeOff is where file A's code (getpid) lies in the file.
	hostCodeOff = pageSize + 0x800
)

// getpid is mov eax, 39; syscall.
var getpid = apptest.Cat(apptest.MovEAX(39), apptest.Syscall)

// headerStores are progHeader's stores.
var headerStores = apptest.Cat(
	[]byte{0x48, 0x89, 0x37},       // mov [rdi], rsi
	[]byte{0x48, 0x89, 0x57, 0x08}, // mov [rdi+8], rdx
	[]byte{0x4c, 0x89, 0x57, 0x10}, // mov [rdi+16], r10
	[]byte{0x4c, 0x89, 0x47, 0x18}, // mov [rdi+24], r8
	[]byte{0x4c, 0x89, 0x4f, 0x20}, // mov [rdi+32], r9
	[]byte{0x48, 0x89, 0x4f, 0x28}, // mov [rdi+40], rcx
	[]byte{0x48, 0x89, 0x5f, 0x30}, // mov [rdi+48], rbx
)

// hostCode is the host file tests' code page: the prog* programs, int3
// elsewhere.
func hostCode() []byte {
	code := make([]byte, pageSize)
	for i := range code {
		code[i] = apptest.Int3[0]
	}
	copy(code[progPeek:], apptest.Cat(apptest.Load, getpid))
	copy(code[progPoke:], apptest.Cat(apptest.Store, getpid))
	copy(code[progHeader:], apptest.Cat(headerStores, getpid))
	copy(code[progRacer:], apptest.Cat(
		apptest.MovEAX(racerMark),
		[]byte{0x48, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00}, // mov qword [rax], 1
		headerStores,
		[]byte{0xeb, byte(-len(headerStores) - 2)}, // jmp back to the stores
	))
	copy(code[progLoads:], apptest.Cat(
		apptest.MovEDI(hostAddrA), apptest.Load, // mov rsi, [rdi]
		apptest.MovEDI(hostAddrA+pageSize+8), []byte{0x48, 0x8b, 0x17}, // mov rdx, [rdi]
		apptest.MovEDI(hostAddrB), []byte{0x4c, 0x8b, 0x17}, // mov r10, [rdi]
		apptest.MovEDI(hostAddrB+2*pageSize-8), []byte{0x4c, 0x8b, 0x07}, // mov r8, [rdi]
		apptest.MovEDI(hostAddrA+hostCodeOff), apptest.JmpRDI,
	))
	return code
}

// TestHostCodeDisassembly checks the hand-assembled programs.
func TestHostCodeDisassembly(t *testing.T) {
	code := hostCode()
	for _, off := range []int{progPeek, progPoke, progHeader, progRacer, progLoads} {
		end := off
		for code[end] != apptest.Int3[0] {
			end++
		}
		t.Logf("%#x:\n%s", off, apptest.Disassemble(t, code[off:end]))
	}
}

// newHostApp starts an application running hostCode whose thread has run
// once: it exists before any host file is sent.
func newHostApp(t testing.TB) *testApp {
	t.Helper()
	return startHostApp(t, newTestApp(t, hostCode()))
}

// startHostApp runs a's thread once.
func startHostApp(t testing.TB, a *testApp) *testApp {
	t.Helper()
	if _, err := peek(t, a, a.Context, apptest.DataAddr); err != nil {
		t.Fatal(err)
	}
	return a
}

// peek has the application load the qword at addr on ctx; an error is
// Switch's.
func peek(t testing.TB, a *testApp, ctx platform.Context, addr uintptr) (uint64, error) {
	t.Helper()
	regs := apptest.InitialRegs()
	regs.Rip = apptest.CodeAddr + progPeek
	regs.Rdi = uint64(addr)
	ev, err := ctx.Switch(a.Space, &regs)
	if err != nil {
		return 0, err
	}
	if ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 {
		t.Fatalf("load at %#x: got %+v, want getpid", addr, ev)
	}
	return regs.Rsi, nil
}

// mustPeek is peek on the application's first context, failing t on an
// error.
func mustPeek(t testing.TB, a *testApp, addr uintptr) uint64 {
	t.Helper()
	v, err := peek(t, a, a.Context, addr)
	if err != nil {
		t.Fatalf("load at %#x: %v", addr, err)
	}
	return v
}

// mapHost is MapHostFile, failing t on an error.
func mapHost(t testing.TB, as *AddressSpace, addr uintptr, f *testHostFile, off int64, length uintptr, at platform.AccessType) {
	t.Helper()
	if err := as.MapHostFile(addr, f, off, length, at); err != nil {
		t.Fatalf("MapHostFile(%#x, %s, %#x, %#x): %v", addr, f.f.Name(), off, length, err)
	}
}

// stubFD returns the descriptor the Sentry expects f to have in the stub.
func stubFD(as *AddressSpace, f platform.HostFile) (int, bool) {
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	fd, ok := as.hostFDs[f]
	return fd, ok
}

// queuedOps returns the operations queued for the mapper.
func queuedOps(as *AddressSpace) []op {
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	return append([]op(nil), as.queued...)
}

// checkStubFDs checks that the stub's main thread holds exactly the
// memory file (at its number in the Sentry), the channel (after it) and
// files, each at the number the Sentry expects, and that the application
// thread of a's first context holds none.
func checkStubFDs(t testing.TB, a *testApp, files ...*testHostFile) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(a.Space.pid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[int]fileID, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Fatalf("%s%s: %v", dir, e.Name(), err)
		}
		var st unix.Stat_t
		if err := unix.Stat(dir+e.Name(), &st); err != nil {
			t.Fatal(err)
		}
		got[n] = fileID{st.Dev, st.Ino}
	}
	if len(got) != 2+len(files) {
		t.Errorf("stub holds %d descriptors, want %d (the memory file, the channel, %d host files)", len(got), 2+len(files), len(files))
	}
	if id, ok := got[a.Plat.memfd]; !ok || id != fdID(t, a.Plat.memfd) {
		t.Errorf("stub descriptor %d is not the memory file", a.Plat.memfd)
	}
	if link, err := os.Readlink(dir + strconv.Itoa(a.Plat.memfd+1)); err != nil || !strings.HasPrefix(link, "socket:[") {
		t.Errorf("stub descriptor %d is %q (%v), want the channel", a.Plat.memfd+1, link, err)
	}
	for _, f := range files {
		n, ok := stubFD(a.Space, f)
		if !ok {
			t.Errorf("%s: not sent to the stub", f.f.Name())
			continue
		}
		if id, ok := got[n]; !ok || id != fdID(t, f.FD()) {
			t.Errorf("stub descriptor %d is not %s", n, f.f.Name())
		}
	}
	th := a.Context.threads[a.Space]
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(a.Space.pid) + "/task/" + strconv.Itoa(th.tid) + "/fd")
	if err != nil || len(fds) != 0 {
		t.Errorf("the application thread has descriptors %v (%v), want none", fds, err)
	}
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uintptr
	perms      string
	ino        uint64
	path       string
}

// stubMapping returns the stub's mapping that contains addr.
func stubMapping(t testing.TB, pid int, addr uintptr) (mapping, bool) {
	t.Helper()
	s := bufio.NewScanner(strings.NewReader(stubMaps(t, pid)))
	for s.Scan() {
		// start-end perms offset dev inode [path]
		f := strings.Fields(s.Text())
		if len(f) < 5 {
			t.Fatalf("maps line %q", s.Text())
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		ino, err3 := strconv.ParseUint(f[4], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("maps line %q: %v", s.Text(), err)
		}
		if uintptr(start) <= addr && addr < uintptr(end) {
			m := mapping{start: uintptr(start), end: uintptr(end), perms: f[1], ino: ino}
			if len(f) > 5 {
				m.path = f[5]
			}
			return m, true
		}
	}
	return mapping{}, false
}

// checkHostMapping checks that the stub maps f, private, with perms,
// at addr.
func checkHostMapping(t testing.TB, a *testApp, addr uintptr, f *testHostFile, perms string) {
	t.Helper()
	m, ok := stubMapping(t, a.Space.pid, addr)
	switch {
	case !ok:
		t.Errorf("nothing mapped at %#x", addr)
	case m.ino != fdID(t, f.FD()).ino || m.path != f.f.Name() || m.perms != perms:
		t.Errorf("at %#x the stub maps %+v, want %s (inode %d) %s", addr, m, f.f.Name(), fdID(t, f.FD()).ino, perms)
	}
}

// TestMapHostFile maps two host files, one from a nonzero offset, into
// an application, which loads from both and runs code from one; the
// descriptors are the mapper's alone. Stubs forked by the template and
// by the Sentry itself (when there is no template) hold the same
// descriptors.
func TestMapHostFile(t *testing.T) {
	t.Run("template", func(t *testing.T) { testMapHostFile(t, newHostApp(t)) })
	t.Run("factory", func(t *testing.T) {
		a := startHostApp(t, apptest.NewTyped[*Platform, *AddressSpace, *Context](t, func(t testing.TB, memfd int) platform.Platform {
			p := newPlatform(t, memfd).(*Platform)
			p.tmplOnce.Do(func() {}) // no template: the factory forks stubs
			return p
		}, hostCode()))
		if a.Plat.tmplPid != 0 || a.Plat.tmplSock >= 0 {
			t.Fatalf("template %d started", a.Plat.tmplPid)
		}
		testMapHostFile(t, a)
	})
}

func testMapHostFile(t *testing.T, a *testApp) {
	dir := execDir(t)
	data := hostData(0xa, 3)
	copy(data[hostCodeOff:], getpid)
	fa := writeHostFile(t, dir, "host-a", data)
	fb := newHostFile(t, dir, 0xb, 3)

	mapHost(t, a.Space, hostAddrA, fa, 0, 2*pageSize, platform.ReadExec)
	mapHost(t, a.Space, hostAddrB, fb, pageSize, 2*pageSize, platform.Read)
	regs := apptest.InitialRegs()
	regs.Rip = apptest.CodeAddr + progLoads
	ev := a.SwitchOK(t, &regs)
	if wantRip := uint64(hostAddrA + hostCodeOff + len(getpid)); ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rip != wantRip {
		t.Fatalf("got %+v orig_rax %d rip %#x, want getpid from file A's code (rip %#x)", ev, regs.Orig_rax, regs.Rip, wantRip)
	}
	for _, l := range []struct {
		name      string
		got, want uint64
	}{
		{"A page 0", regs.Rsi, fa.qword(0)},
		{"A page 1 + 8", regs.Rdx, fa.qword(pageSize + 8)},
		{"B page 1 (mapped from offset 1 page)", regs.R10, fb.qword(pageSize)},
		{"B page 2, last qword", regs.R8, fb.qword(3*pageSize - 8)},
	} {
		if l.got != l.want {
			t.Errorf("%s: loaded %#x, want %#x", l.name, l.got, l.want)
		}
	}
	checkHostMapping(t, a, hostAddrA, fa, "r-xp")
	checkHostMapping(t, a, hostAddrB+pageSize, fb, "r--p")
	if m, ok := stubMapping(t, a.Space.pid, hostAddrA+2*pageSize); ok {
		t.Errorf("mapped past file A's mapping: %+v", m)
	}
	checkStubFDs(t, a, fa, fb)

	// A thread cloned once the mapper holds the files holds none either.
	ctx, err := a.Plat.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	if v, err := peek(t, a, ctx, hostAddrB); err != nil || v != fb.qword(pageSize) {
		t.Fatalf("second thread: loaded %#x (%v), want %#x", v, err, fb.qword(pageSize))
	}
	tid := ctx.(*Context).threads[a.Space].tid
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(a.Space.pid) + "/task/" + strconv.Itoa(tid) + "/fd")
	if err != nil || len(fds) != 0 {
		t.Errorf("a thread cloned after the files were sent has descriptors %v (%v), want none", fds, err)
	}
}

// TestMapHostFilePastEOF: a page of a host file mapping past the file's
// end faults with SIGBUS, as in Linux, and the pages before it read.
func TestMapHostFilePastEOF(t *testing.T) {
	fa := newHostFile(t, execDir(t), 0xa, 1)
	a := newHostApp(t)
	mapHost(t, a.Space, hostAddrA, fa, 0, 2*pageSize, platform.Read)
	if v := mustPeek(t, a, hostAddrA+pageSize-8); v != fa.qword(pageSize-8) {
		t.Errorf("last qword of the file: loaded %#x, want %#x", v, fa.qword(pageSize-8))
	}
	regs := apptest.InitialRegs()
	regs.Rip = apptest.CodeAddr + progPeek
	regs.Rdi = hostAddrA + pageSize
	ev := a.SwitchOK(t, &regs)
	if ev.Kind != platform.EventFault || ev.Signo != int32(unix.SIGBUS) || ev.Addr != hostAddrA+pageSize || ev.Access != platform.Read {
		t.Errorf("load past the end of the file: got %+v, want a SIGBUS read fault at %#x", ev, hostAddrA+pageSize)
	}
}

// TestMapHostFileNeverWritable: a store into a host file mapping faults
// (a write access), whatever access MapHostFile was asked for, and
// changes neither the mapping nor the file.
func TestMapHostFileNeverWritable(t *testing.T) {
	dir := execDir(t)
	fa := newHostFile(t, dir, 0xa, 2)
	a := newHostApp(t)
	for i, tc := range []struct {
		at    platform.AccessType
		perms string
	}{
		{platform.ReadWrite, "r--p"},
		{platform.AnyAccess, "r-xp"},
		{platform.Read, "r--p"},
	} {
		addr := uintptr(hostAddrA + i*2*pageSize)
		mapHost(t, a.Space, addr, fa, 0, 2*pageSize, tc.at)
		regs := apptest.InitialRegs()
		regs.Rip = apptest.CodeAddr + progPoke
		regs.Rdi, regs.Rsi = uint64(addr+pageSize+16), 0xdeadbeef
		ev := a.SwitchOK(t, &regs)
		if ev.Kind != platform.EventFault || ev.Addr != addr+pageSize+16 || ev.Access != (platform.AccessType{Write: true}) || ev.Signo != int32(unix.SIGSEGV) {
			t.Errorf("%+v: store got %+v, want a write fault at %#x", tc.at, ev, addr+pageSize+16)
		}
		if v := mustPeek(t, a, addr+pageSize+16); v != fa.qword(pageSize+16) {
			t.Errorf("%+v: after the store the mapping holds %#x, want %#x", tc.at, v, fa.qword(pageSize+16))
		}
		checkHostMapping(t, a, addr, fa, tc.perms)
	}
	if b, err := os.ReadFile(fa.f.Name()); err != nil || string(b) != string(fa.data) {
		t.Errorf("the host file changed (%v)", err)
	}
}

// TestMapHostFileAgain: a file mapped again is not sent again: one
// mmap is queued, no recvmsg, and the stub holds one descriptor for it.
func TestMapHostFileAgain(t *testing.T) {
	dir := execDir(t)
	fa := newHostFile(t, dir, 0xa, 4)
	fb := newHostFile(t, dir, 0xb, 1)
	a := newHostApp(t)
	mapHost(t, a.Space, hostAddrA, fa, 0, pageSize, platform.Read)
	if ops := queuedOps(a.Space); len(ops) != 2 || ops[0].nr != unix.SYS_RECVMSG || ops[1].nr != unix.SYS_MMAP {
		t.Fatalf("first mapping of a file queued %+v, want recvmsg and mmap", ops)
	}
	if v := mustPeek(t, a, hostAddrA); v != fa.qword(0) {
		t.Errorf("loaded %#x, want %#x", v, fa.qword(0))
	}
	fd, _ := stubFD(a.Space, fa)
	for i, off := range []int64{3 * pageSize, 0, pageSize} {
		addr := uintptr(hostAddrB + i*pageSize)
		mapHost(t, a.Space, addr, fa, off, pageSize, platform.Read)
		ops := queuedOps(a.Space)
		if len(ops) != 1 || ops[0].nr != unix.SYS_MMAP || ops[0].args[4] != uintptr(fd) || ops[0].args[5] != uintptr(off) {
			t.Fatalf("mapping again queued %+v, want one mmap of descriptor %d", ops, fd)
		}
		if v := mustPeek(t, a, addr+8); v != fa.qword(int(off)+8) {
			t.Errorf("mapping of offset %#x: loaded %#x, want %#x", off, v, fa.qword(int(off)+8))
		}
		checkStubFDs(t, a, fa)
	}
	// Another file is sent, at the next free number.
	mapHost(t, a.Space, hostAddrA+pageSize, fb, 0, pageSize, platform.Read)
	if v := mustPeek(t, a, hostAddrA+pageSize); v != fb.qword(0) {
		t.Errorf("file B: loaded %#x, want %#x", v, fb.qword(0))
	}
	checkStubFDs(t, a, fa, fb)
}

// TestMapHostFileReplaces: a host file mapping replaces what was mapped
// there (a memory file mapping, another host file's) and is replaced by a
// memory file mapping; Unmap removes it.
func TestMapHostFileReplaces(t *testing.T) {
	dir := execDir(t)
	fa := newHostFile(t, dir, 0xa, 1)
	fb := newHostFile(t, dir, 0xb, 1)
	a := newHostApp(t)
	const memQword = 0x1122334455667788
	le.PutUint64(a.Mem[apptest.ExtraOff:], memQword)
	steps := []struct {
		name string
		do   func() error
		want uint64 // 0: unmapped
	}{
		{"memory file", func() error { return a.Space.MapFile(hostAddrA, apptest.ExtraOff, pageSize, platform.Read) }, memQword},
		{"file A over it", func() error { return a.Space.MapHostFile(hostAddrA, fa, 0, pageSize, platform.Read) }, fa.qword(0)},
		{"file B over A", func() error { return a.Space.MapHostFile(hostAddrA, fb, 0, pageSize, platform.Read) }, fb.qword(0)},
		{"memory file over B", func() error { return a.Space.MapFile(hostAddrA, apptest.ExtraOff, pageSize, platform.Read) }, memQword},
		{"file A again", func() error { return a.Space.MapHostFile(hostAddrA, fa, 0, pageSize, platform.Read) }, fa.qword(0)},
		{"unmapped", func() error { a.Space.Unmap(hostAddrA, pageSize); return nil }, 0},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		regs := apptest.InitialRegs()
		regs.Rip = apptest.CodeAddr + progPeek
		regs.Rdi = hostAddrA
		ev := a.SwitchOK(t, &regs)
		switch {
		case st.want == 0 && (ev.Kind != platform.EventFault || ev.Addr != hostAddrA):
			t.Errorf("%s: got %+v, want a fault at %#x", st.name, ev, hostAddrA)
		case st.want != 0 && (ev.Kind != platform.EventSyscall || regs.Rsi != st.want):
			t.Errorf("%s: got %+v, loaded %#x, want %#x", st.name, ev, regs.Rsi, st.want)
		}
	}
	checkStubFDs(t, a, fa, fb)
}

// TestJumpIntoStubRecvmsg: an application thread that jumps to the stub's
// system call instructions with the mapper's recvmsg set up faults there,
// and a message waiting in the channel stays there.
func TestJumpIntoStubRecvmsg(t *testing.T) {
	fa := newHostFile(t, execDir(t), 0xa, 1)
	a := newHostApp(t)
	mapHost(t, a.Space, hostAddrA, fa, 0, pageSize, platform.Read)
	mustPeek(t, a, hostAddrA)
	// A message of the Sentry's the mapper has not received (its
	// receive would be queued after the Switches below).
	if err := unix.Sendmsg(a.Space.sock, []byte{0}, nil, nil, unix.MSG_DONTWAIT); err != nil {
		t.Fatal(err)
	}
	waiting, err := unix.IoctlGetInt(a.Space.sock, unix.SIOCOUTQ)
	if err != nil || waiting == 0 {
		t.Fatalf("SIOCOUTQ: %d bytes (%v), want the message's", waiting, err)
	}
	for _, site := range stubSyscallSites(a.Plat) {
		regs := apptest.InitialRegs()
		regs.Rip = uint64(site)
		regs.Rax = unix.SYS_RECVMSG
		regs.Rdi = uint64(a.Plat.memfd) + 1
		regs.Rsi = uint64(a.Plat.stub.start) + scratchOff + scrMsghdr
		regs.Rdx = unix.MSG_DONTWAIT
		ev, err := a.Context.Switch(a.Space, &regs)
		if err != nil {
			t.Fatalf("recvmsg at %#x: Switch: %v", site, err)
		}
		if ev.Kind != platform.EventFault || !ev.Access.Execute || !a.Plat.stub.contains(ev.Addr) {
			t.Fatalf("recvmsg at %#x: got %+v, want an execute fault in the stub region", site, ev)
		}
	}
	if n, err := unix.IoctlGetInt(a.Space.sock, unix.SIOCOUTQ); err != nil || n != waiting {
		t.Errorf("SIOCOUTQ: %d bytes (%v) after the application's attempts, want %d", n, err, waiting)
	}
	checkStubFDs(t, a, fa)
}

// TestHostFileLimit: the stub holds at most maxHostFiles host files, each
// at the descriptor number the Sentry expects (the lowest free ones,
// around the memory file and the channel); past the limit
// CanMapHostFile is false for new files and true for known ones.
func TestHostFileLimit(t *testing.T) {
	dir := execDir(t)
	a := newHostApp(t)
	files := make([]*testHostFile, maxHostFiles+1)
	for i := range files {
		files[i] = newHostFile(t, dir, uint64(0x100+i), 1)
	}
	for i, f := range files[:maxHostFiles] {
		if !a.Space.CanMapHostFile(f) {
			t.Fatalf("CanMapHostFile of file %d is false with %d files held", i, i)
		}
		mapHost(t, a.Space, uintptr(hostAddrMany+i*pageSize), f, 0, pageSize, platform.Read)
	}
	for _, i := range []int{0, a.Plat.memfd, maxHostFiles - 1} {
		if v := mustPeek(t, a, uintptr(hostAddrMany+i*pageSize+8)); v != files[i].qword(8) {
			t.Errorf("file %d: loaded %#x, want %#x", i, v, files[i].qword(8))
		}
	}
	checkStubFDs(t, a, files[:maxHostFiles]...)
	extra := files[maxHostFiles]
	if a.Space.CanMapHostFile(extra) {
		t.Errorf("CanMapHostFile of a new file is true with %d files held", maxHostFiles)
	}
	if !a.Space.CanMapHostFile(files[0]) {
		t.Errorf("CanMapHostFile of a known file is false with %d files held", maxHostFiles)
	}
	if err := a.Space.MapHostFile(hostAddrA, extra, 0, pageSize, platform.Read); err == nil {
		t.Errorf("MapHostFile of file %d succeeded", maxHostFiles+1)
	}
	mapHost(t, a.Space, hostAddrA, files[1], 0, pageSize, platform.Read)
	if v := mustPeek(t, a, hostAddrA); v != files[1].qword(0) {
		t.Errorf("known file mapped at the limit: loaded %#x, want %#x", v, files[1].qword(0))
	}
	checkStubFDs(t, a, files[:maxHostFiles]...)
}

// TestMapHostFileChannelFull: when the channel's send buffer is full,
// MapHostFile has the queued receives run and sends again.
func TestMapHostFileChannelFull(t *testing.T) {
	dir := execDir(t)
	a := newHostApp(t)
	// The smallest send buffer the kernel allows holds a few messages.
	if err := unix.SetsockoptInt(a.Space.sock, unix.SOL_SOCKET, unix.SO_SNDBUF, 1); err != nil {
		t.Fatal(err)
	}
	const n = 24 // fewer than one request's worth of receives
	files := make([]*testHostFile, n)
	r0 := a.Plat.Requests()
	for i := range files {
		files[i] = newHostFile(t, dir, uint64(0x100+i), 1)
		mapHost(t, a.Space, uintptr(hostAddrMany+i*pageSize), files[i], 0, pageSize, platform.Read)
	}
	if r := a.Plat.Requests() - r0; r == 0 {
		t.Errorf("%d host files sent through a full channel in no request", n)
	} else {
		t.Logf("%d host files sent in %d requests", n, r)
	}
	for i, f := range files {
		if v := mustPeek(t, a, uintptr(hostAddrMany+i*pageSize)); v != f.qword(0) {
			t.Errorf("file %d: loaded %#x, want %#x", i, v, f.qword(0))
		}
	}
	checkStubFDs(t, a, files...)
}

// outcome is what an attack on the mapper's recvmsg header ends in.
type outcome int

const (
	dead    outcome = 1 << iota // the address space is dead
	correct                     // the mappings are made, correctly
	either  = dead | correct
)

func (o outcome) String() string {
	switch o {
	case dead:
		return "dead"
	case correct:
		return "correct"
	case either:
		return "dead or correct"
	}
	return "none"
}

// msghdr is a struct msghdr as progHeader stores it: msg_name,
// msg_namelen, msg_iov, msg_iovlen, msg_control, msg_controllen,
// msg_flags.
type msghdr [7]uint64

// regs sets r for progHeader or progRacer to store h at the mapper's
// recvmsg header.
func (h msghdr) regs(p *Platform, rip uint64) platform.Registers {
	r := apptest.InitialRegs()
	r.Rip = rip
	r.Rdi = uint64(p.stub.start) + scratchOff + scrMsghdr
	r.Rsi, r.Rdx, r.R10, r.R8, r.R9, r.Rcx, r.Rbx = h[0], h[1], h[2], h[3], h[4], h[5], h[6]
	return r
}

// TestAttackRecvmsgHeader: the application rewrites the mapper's recvmsg
// header (on the stub's scratch page, which it can write), once or for
// ever from another thread, and the Sentry then maps a new host file (and
// a known one again). Either the address space is dead (Switch fails with
// ErrContextDead) or every mapping is of the right file and content:
// never the memory file, nor another host file.
func TestAttackRecvmsgHeader(t *testing.T) {
	const (
		iovOff  = 0xd00 // in the data page: an iovec the application wrote
		bufOff  = 0xe00 // ... a byte it points to
		cmsgOff = 0xc00 // ... a control buffer
	)
	for _, tc := range []struct {
		name string
		// edit changes the legitimate header h of the stub region at
		// stub; iov, if set, is the iovec written at iovOff.
		edit func(h *msghdr, stub uint64)
		iov  []uint64
		race bool
		want outcome
	}{
		{name: "untouched", edit: func(h *msghdr, stub uint64) {}, want: correct},
		{name: "no control buffer", edit: func(h *msghdr, stub uint64) { h[4] = 0 }, want: dead},
		{name: "control buffer read-only", edit: func(h *msghdr, stub uint64) { h[4] = stub + pageSize }, want: dead},
		{name: "control buffer in the kernel", edit: func(h *msghdr, stub uint64) { h[4] = 0xffffffff81000000 }, want: dead},
		{name: "control buffer in application memory", edit: func(h *msghdr, stub uint64) { h[4] = apptest.DataAddr + cmsgOff }, want: correct},
		{name: "control length zero", edit: func(h *msghdr, stub uint64) { h[5] = 0 }, want: correct},
		{name: "control length of a header only", edit: func(h *msghdr, stub uint64) { h[5] = 16 }, want: correct},
		{name: "control length huge", edit: func(h *msghdr, stub uint64) { h[5] = 1 << 62 }, want: correct},
		{name: "no iovec", edit: func(h *msghdr, stub uint64) { h[3] = 0 }, want: correct},
		{name: "huge iovec count", edit: func(h *msghdr, stub uint64) { h[3] = 1 << 40 }, want: dead},
		{name: "iovec array is the read-only data page", edit: func(h *msghdr, stub uint64) { h[2] = stub + pageSize }, want: dead},
		// The request page's first qwords as an iovec: whatever the
		// Sentry wrote there.
		{name: "iovec array is the request page", edit: func(h *msghdr, stub uint64) { h[2] = stub + reqPageOff }, want: either},
		{name: "iovec buffer read-only", edit: func(h *msghdr, stub uint64) { h[2] = apptest.DataAddr + iovOff },
			iov: []uint64{0 /* the stub's data page, below */, 1}, want: dead},
		{name: "iovec buffer in application memory", edit: func(h *msghdr, stub uint64) { h[2] = apptest.DataAddr + iovOff },
			iov: []uint64{apptest.DataAddr + bufOff, 1}, want: correct},
		{name: "name buffer read-only", edit: func(h *msghdr, stub uint64) { h[0], h[1] = stub+pageSize, 128 }, want: correct},
		{name: "negative name length", edit: func(h *msghdr, stub uint64) { h[0], h[1] = apptest.DataAddr+bufOff, 0xffffffff }, want: dead},
		{name: "garbage flags", edit: func(h *msghdr, stub uint64) { h[6] = ^uint64(0) }, want: correct},
		{name: "racing: control length of a header only", edit: func(h *msghdr, stub uint64) { h[5] = 16 }, race: true, want: either},
		{name: "racing: control length zero", edit: func(h *msghdr, stub uint64) { h[5] = 0 }, race: true, want: either},
		{name: "racing: control length huge", edit: func(h *msghdr, stub uint64) { h[5] = 1 << 62 }, race: true, want: either},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.race {
				// The mapper runs on this thread's CPU, the racer on
				// another.
				if ncpu < 2 {
					t.Skip("one CPU: no race")
				}
				runtime.LockOSThread() // for good: Switch locks it too
				var set unix.CPUSet
				set.Set(0)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					t.Fatal(err)
				}
			}
			dir := execDir(t)
			fa := newHostFile(t, dir, 0xa, 2)
			a := newHostApp(t)
			stub := uint64(a.Plat.stub.start)
			// A first file, sent with the header untouched.
			mapHost(t, a.Space, hostAddrA, fa, 0, pageSize, platform.Read)
			if v := mustPeek(t, a, hostAddrA); v != fa.qword(0) {
				t.Fatalf("before the attack: loaded %#x, want %#x", v, fa.qword(0))
			}
			h := msghdr{0, 0, stub + scratchOff + scrIovec, 1, stub + scratchOff + scrControl, scrControlLen, 0}
			tc.edit(&h, stub)
			if tc.iov != nil {
				if tc.iov[0] == 0 {
					tc.iov[0] = stub + pageSize
				}
				le.PutUint64(a.Mem[apptest.DataOff+iovOff:], tc.iov[0])
				le.PutUint64(a.Mem[apptest.DataOff+iovOff+8:], tc.iov[1])
			}
			stopRacer := func() {}
			if tc.race {
				stopRacer = startRacer(t, a, h)
			} else {
				regs := h.regs(a.Plat, apptest.CodeAddr+progHeader)
				if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
					t.Fatalf("writing the header: got %+v", ev)
				}
				if got := msghdr(le64s(t, a.Space.pid, stub+scratchOff+scrMsghdr, 7)); got != h {
					t.Fatalf("the stub's header is %#x, want %#x", got, h)
				}
			}
			// A racing attack gets many receives to race with.
			trials := 1
			if tc.race {
				trials = 32
			}
			var got outcome
			sent := []*testHostFile{fa}
			for i := 0; i < trials && got != dead; i++ {
				fb := newHostFile(t, dir, uint64(0xb0+i), 2)
				sent = append(sent, fb)
				addrB := uintptr(hostAddrB + i*4*pageSize)
				mapHost(t, a.Space, addrB, fb, pageSize, pageSize, platform.Read)
				mapHost(t, a.Space, addrB+pageSize, fa, pageSize, pageSize, platform.Read)
				v, err := peek(t, a, a.Context, addrB)
				if err != nil {
					if !errors.Is(err, platform.ErrContextDead) || a.Space.check() == nil {
						t.Fatalf("receive %d: Switch: %v, want ErrContextDead and a dead address space", i, err)
					}
					if err := a.Space.MapHostFile(hostAddrA, fa, 0, pageSize, platform.Read); err == nil {
						t.Error("MapHostFile in the dead address space succeeded")
					}
					t.Logf("receive %d: %v", i, err)
					got = dead
					break
				}
				got = correct
				if v != fb.qword(pageSize) {
					t.Fatalf("receive %d: the new file's mapping holds %#x, want %#x", i, v, fb.qword(pageSize))
				}
				if v := mustPeek(t, a, addrB+pageSize); v != fa.qword(pageSize) {
					t.Fatalf("receive %d: the known file's mapping holds %#x, want %#x", i, v, fa.qword(pageSize))
				}
				checkHostMapping(t, a, addrB, fb, "r--p")
				checkHostMapping(t, a, addrB+pageSize, fa, "r--p")
				if fd, _ := stubFD(a.Space, fb); h[4] == apptest.DataAddr+cmsgOff && !tc.race {
					// The kernel wrote the control message where the
					// application asked: the descriptor the Sentry
					// expected.
					cm := a.Mem[apptest.DataOff+cmsgOff:]
					if lvl, typ, n := le.Uint32(cm[8:]), le.Uint32(cm[12:]), le.Uint32(cm[16:]); lvl != unix.SOL_SOCKET || typ != unix.SCM_RIGHTS || n != uint32(fd) {
						t.Errorf("control message level %d type %d descriptor %d, want SCM_RIGHTS of %d", lvl, typ, n, fd)
					}
				}
			}
			stopRacer()
			if got&tc.want == 0 {
				t.Errorf("outcome %v, want %v", got, tc.want)
			}
			t.Logf("outcome %v", got)
			if got == correct {
				checkStubFDs(t, a, sent...)
			}
		})
	}
}

// startRacer runs progRacer, storing h at the mapper's recvmsg header for
// ever, on a new context of a, and returns once it runs; the function it
// returns stops it.
func startRacer(t testing.TB, a *testApp, h msghdr) (stop func()) {
	t.Helper()
	ctx, err := a.Plat.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		regs := h.regs(a.Plat, apptest.CodeAddr+progRacer)
		ev, err := ctx.Switch(a.Space, &regs)
		if err == nil && ev.Kind != platform.EventInterrupted {
			err = fmt.Errorf("racer: got %+v, want an interrupt", ev)
		}
		if errors.Is(err, platform.ErrContextDead) {
			err = nil // the attack killed the stub
		}
		ctx.Release()
		done <- err
	}()
	mark := a.Mem[apptest.DataOff+racerMark-apptest.DataAddr:]
	for le.Uint64(mark) == 0 {
		select {
		case err := <-done:
			t.Fatalf("racer stopped before it ran: %v", err)
		default:
			runtime.Gosched()
		}
	}
	// The racer is the stub's one thread that is neither the mapper nor
	// the first context's: it runs on CPU 1.
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(a.Space.pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var set unix.CPUSet
	set.Set(1)
	racers := 0
	for _, e := range tasks {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == a.Space.pid || tid == a.Context.threads[a.Space].tid {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			t.Fatal(err)
		}
		racers++
	}
	if racers != 1 {
		t.Fatalf("stub has %d threads besides the mapper and the first context's, want 1", racers)
	}
	return func() {
		ctx.Interrupt()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// le64s reads n qwords at addr in process pid's memory.
func le64s(t testing.TB, pid int, addr uint64, n int) []uint64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 8*n)
	if _, err := f.ReadAt(b, int64(addr)); err != nil {
		t.Fatalf("read stub memory at %#x: %v", addr, err)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = le.Uint64(b[8*i:])
	}
	return out
}
