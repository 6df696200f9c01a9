package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/linux"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/mm/mmtest"
	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/vdso"
)

// hostFile is an Executable backed by a host file.
type hostFile struct{ f *os.File }

func (h hostFile) ReadAt(p []byte, off int64) (int, error) { return h.f.ReadAt(p, off) }

func (h hostFile) Size() int64 {
	st, err := h.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

var mf *memory.File

func newMM(t *testing.T) *mm.MemoryManager {
	t.Helper()
	if mf == nil {
		var err error
		if mf, err = memory.New("loader-test"); err != nil {
			t.Fatal(err)
		}
	}
	m, err := mm.New(&mmtest.Platform{}, mf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.DecUsers)
	return m
}

// hostOpen opens host paths, as the kernel's Open would open sandbox paths.
func hostOpen(t *testing.T) func(string) (Executable, error) {
	return func(path string) (Executable, error) {
		f, err := os.Open(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return nil, pe.Err
			}
			return nil, err
		}
		t.Cleanup(func() { f.Close() })
		return hostFile{f}, nil
	}
}

type stackView struct {
	argc int
	argv []string
	envv []string
	auxv map[uint64]uint64
}

// readStack parses the initial stack at sp back through CopyIn.
func readStack(t *testing.T, m *mm.MemoryManager, sp uintptr) stackView {
	t.Helper()
	word := func(addr uintptr) uint64 {
		var b [8]byte
		if _, err := m.CopyIn(addr, b[:]); err != nil {
			t.Fatalf("CopyIn(%#x): %v", addr, err)
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	str := func(addr uint64) string {
		s, err := m.CopyInString(uintptr(addr), 4096)
		if err != nil {
			t.Fatalf("CopyInString(%#x): %v", addr, err)
		}
		return s
	}
	var v stackView
	v.argc = int(word(sp))
	p := sp + 8
	for i := 0; i < v.argc; i++ {
		v.argv = append(v.argv, str(word(p)))
		p += 8
	}
	if word(p) != 0 {
		t.Fatal("argv not NULL terminated")
	}
	p += 8
	for ; word(p) != 0; p += 8 {
		v.envv = append(v.envv, str(word(p)))
	}
	p += 8
	v.auxv = map[uint64]uint64{}
	for {
		k, val := word(p), word(p+8)
		p += 16
		if k == linux.AT_NULL {
			break
		}
		v.auxv[k] = val
	}
	return v
}

func vmaAt(m *mm.MemoryManager, addr uintptr) (mm.VMAInfo, bool) {
	for v := range m.VMAs() {
		if v.Start <= addr && addr < v.End {
			return v, true
		}
	}
	return mm.VMAInfo{}, false
}

func buildStatic(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.c")
	os.WriteFile(src, []byte("int data = 42; char bss[100000];\nint main(void) { return data + bss[5]; }\n"), 0o644)
	out := filepath.Join(dir, "hello")
	if b, err := exec.Command(gcc, "-static", "-no-pie", "-o", out, src).CombinedOutput(); err != nil {
		t.Skipf("gcc -static failed (no static libc?): %v\n%s", err, b)
	}
	return out
}

func TestStatic(t *testing.T) {
	path := buildStatic(t)
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	m := newMM(t)
	random := bytes.Repeat([]byte{7}, 16)
	res, err := Load(m, LoadArgs{
		Filename: path, Open: hostOpen(t),
		Argv: []string{"hello", "a b"}, Envv: []string{"HOME=/", "X=1"},
		Random: bytes.NewReader(random), UID: 1, EUID: 2, GID: 3, EGID: 3, HWCap: 0xabc,
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if res.Entry != uintptr(ef.Entry) {
		t.Errorf("Entry = %#x, want %#x", res.Entry, ef.Entry)
	}
	if res.StackTop%16 != 0 {
		t.Errorf("StackTop %#x not 16-byte aligned", res.StackTop)
	}
	// Every PT_LOAD segment is mapped with its permissions.
	var end uint64
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		for _, a := range []uint64{p.Vaddr, p.Vaddr + p.Memsz - 1} {
			v, ok := vmaAt(m, uintptr(a))
			if !ok {
				t.Fatalf("segment address %#x not mapped", a)
			}
			want := platform.AccessType{Read: p.Flags&elf.PF_R != 0, Write: p.Flags&elf.PF_W != 0, Execute: p.Flags&elf.PF_X != 0}
			if v.Perms != want {
				t.Errorf("segment at %#x perms %+v, want %+v", a, v.Perms, want)
			}
		}
		// The file bytes are there, and bss reads as zero.
		fileBytes := make([]byte, p.Filesz)
		p.ReadAt(fileBytes, 0)
		got := make([]byte, p.Memsz)
		if _, err := m.CopyIn(uintptr(p.Vaddr), got); err != nil {
			t.Fatalf("CopyIn segment: %v", err)
		}
		if !bytes.Equal(got[:p.Filesz], fileBytes) || !bytes.Equal(got[p.Filesz:], make([]byte, p.Memsz-p.Filesz)) {
			t.Errorf("segment at %#x has wrong contents", p.Vaddr)
		}
		end = max(end, p.Vaddr+p.Memsz)
	}
	if want := uintptr(end+linux.PageSize-1) &^ (linux.PageSize - 1); res.BrkStart != want {
		t.Errorf("BrkStart = %#x, want %#x", res.BrkStart, want)
	}
	if b := m.Brk(0); b != res.BrkStart {
		t.Errorf("Brk(0) = %#x", b)
	}

	sv := readStack(t, m, res.StackTop)
	if sv.argc != 2 || sv.argv[0] != "hello" || sv.argv[1] != "a b" {
		t.Errorf("argv = %d %q", sv.argc, sv.argv)
	}
	if len(sv.envv) != 2 || sv.envv[0] != "HOME=/" || sv.envv[1] != "X=1" {
		t.Errorf("envv = %q", sv.envv)
	}
	for k, want := range map[uint64]uint64{
		linux.AT_PAGESZ: 4096, linux.AT_CLKTCK: 100, linux.AT_BASE: 0, linux.AT_ENTRY: ef.Entry,
		linux.AT_UID: 1, linux.AT_EUID: 2, linux.AT_GID: 3, linux.AT_EGID: 3, linux.AT_SECURE: 1,
		linux.AT_HWCAP: 0xabc, linux.AT_PHENT: 56, linux.AT_PHNUM: uint64(len(ef.Progs)),
		linux.AT_FLAGS: 0, linux.AT_MINSIGSTKSZ: linux.MINSIGSTKSZ, linux.AT_HWCAP2: 0,
	} {
		if got, ok := sv.auxv[k]; !ok || got != want {
			t.Errorf("auxv[%d] = %#x (present %v), want %#x", k, got, ok, want)
		}
	}
	if _, ok := sv.auxv[linux.AT_SYSINFO_EHDR]; ok {
		t.Error("AT_SYSINFO_EHDR present without a vDSO")
	}
	rnd := make([]byte, 16)
	m.CopyIn(uintptr(sv.auxv[linux.AT_RANDOM]), rnd)
	if !bytes.Equal(rnd, random) {
		t.Errorf("AT_RANDOM bytes = %x", rnd)
	}
	if s, _ := m.CopyInString(uintptr(sv.auxv[linux.AT_PLATFORM]), 100); s != "x86_64" {
		t.Errorf("AT_PLATFORM = %q", s)
	}
	if s, _ := m.CopyInString(uintptr(sv.auxv[linux.AT_EXECFN]), 4096); s != path {
		t.Errorf("AT_EXECFN = %q", s)
	}
	// AT_PHDR points at the program headers.
	ph := make([]byte, 4)
	m.CopyIn(uintptr(sv.auxv[linux.AT_PHDR]), ph)
	if elf.ProgType(binary.LittleEndian.Uint32(ph)) != ef.Progs[0].Type {
		t.Errorf("AT_PHDR does not point at the first program header")
	}
	// Argument and environment ranges.
	args := make([]byte, res.ArgvEnd-res.ArgvStart)
	m.CopyIn(res.ArgvStart, args)
	if string(args) != "hello\x00a b\x00" {
		t.Errorf("argv range holds %q", args)
	}
	env := make([]byte, res.EnvvEnd-res.EnvvStart)
	m.CopyIn(res.EnvvStart, env)
	if string(env) != "HOME=/\x00X=1\x00" {
		t.Errorf("envv range holds %q", env)
	}
	// The stack VMA.
	v, ok := vmaAt(m, res.StackTop)
	if !ok || !v.GrowsDown || v.End != m.MaxAddress() || v.End-v.Start != 8<<20 || v.Perms.Execute {
		t.Errorf("stack VMA = %+v", v)
	}
	if len(m.Auxv()) != 2*len(res.Auxv) {
		t.Errorf("mm auxv has %d words for %d entries", len(m.Auxv()), len(res.Auxv))
	}
}

func TestDynamicPIE(t *testing.T) {
	const path = "/bin/true"
	ef, err := elf.Open(path)
	if err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	defer ef.Close()
	if ef.Type != elf.ET_DYN {
		t.Skipf("%s is not PIE", path)
	}
	var interp string
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	ief, err := elf.Open(interp)
	if err != nil {
		t.Skipf("interpreter %q: %v", interp, err)
	}
	defer ief.Close()

	m := newMM(t)
	res, err := Load(m, LoadArgs{Filename: path, Open: hostOpen(t), Argv: []string{"true"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if res.Interpreter != interp {
		t.Errorf("Interpreter = %q, want %q", res.Interpreter, interp)
	}
	sv := readStack(t, m, res.StackTop)
	base := uintptr(sv.auxv[linux.AT_BASE])
	if base == 0 || base%linux.PageSize != 0 || base >= m.MMapBase() {
		t.Errorf("AT_BASE = %#x, want page aligned below the mmap base %#x", base, m.MMapBase())
	}
	if res.Entry != base+uintptr(ief.Entry) {
		t.Errorf("Entry = %#x, want interpreter entry %#x", res.Entry, base+uintptr(ief.Entry))
	}
	if got, want := sv.auxv[linux.AT_ENTRY], uint64(linux.ELFETDynBase)+ef.Entry; got != want {
		t.Errorf("AT_ENTRY = %#x, want %#x", got, want)
	}
	// The interpreter's and the program's headers are where they should be.
	for _, c := range []struct {
		addr uintptr
		want string
	}{{base, "\x7fELF"}, {linux.ELFETDynBase, "\x7fELF"}} {
		b := make([]byte, 4)
		if _, err := m.CopyIn(c.addr, b); err != nil || string(b) != c.want {
			t.Errorf("at %#x: %q, %v", c.addr, b, err)
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_PHDR && sv.auxv[linux.AT_PHDR] != linux.ELFETDynBase+p.Vaddr {
			t.Errorf("AT_PHDR = %#x", sv.auxv[linux.AT_PHDR])
		}
	}
	// No PROT_NONE reservation is left between the interpreter's segments.
	for v := range m.VMAs() {
		if v.Perms == (platform.AccessType{}) && v.Start >= base && v.Start < base+(16<<20) {
			t.Errorf("leftover reservation %#x-%#x", v.Start, v.End)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScript(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true")
	}
	script := writeFile(t, "script", "#!  /bin/true  -x  y \t\necho hi\n")
	m := newMM(t)
	res, err := Load(m, LoadArgs{Filename: script, Open: hostOpen(t), Argv: []string{"script", "arg1"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{"/bin/true", "-x  y", script, "arg1"}
	sv := readStack(t, m, res.StackTop)
	if len(sv.argv) != len(want) {
		t.Fatalf("argv = %q, want %q", sv.argv, want)
	}
	for i := range want {
		if sv.argv[i] != want[i] {
			t.Errorf("argv = %q, want %q", sv.argv, want)
		}
	}
	if res.Path != "/bin/true" {
		t.Errorf("Path = %q", res.Path)
	}
	if s, _ := m.CopyInString(uintptr(sv.auxv[linux.AT_EXECFN]), 4096); s != script {
		t.Errorf("AT_EXECFN = %q, want the script", s)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	os.WriteFile(loop, []byte("#!"+loop+"\n"), 0o755)
	long := "#!/" + string(bytes.Repeat([]byte("a"), 300))
	for _, tc := range []struct {
		name    string
		content string
		path    string
		want    error
	}{
		{"garbage", "this is not a program\n", "", unix.ENOEXEC},
		{"empty", "", "", unix.ENOEXEC},
		{"truncated ELF", "\x7fELF\x02\x01\x01", "", unix.ENOEXEC},
		{"empty interpreter", "#!\n", "", unix.ENOEXEC},
		{"blank interpreter", "#!   \t\n", "", unix.ENOEXEC},
		{"interpreter too long", long, "", unix.ENOEXEC},
		{"missing interpreter", "#!/nonexistent/sh\n", "", unix.ENOENT},
		{"recursion", "", loop, unix.ELOOP},
		{"missing", "", filepath.Join(dir, "missing"), unix.ENOENT},
	} {
		path := tc.path
		if path == "" {
			path = writeFile(t, "f", tc.content)
		}
		_, err := Load(newMM(t), LoadArgs{Filename: path, Open: hostOpen(t), Argv: []string{"x"}})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Load = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestBadELF(t *testing.T) {
	// Start from a real ELF header and break it field by field.
	orig, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no /bin/true")
	}
	for _, tc := range []struct {
		name string
		off  int
		val  []byte
	}{
		{"32-bit class", elf.EI_CLASS, []byte{byte(elf.ELFCLASS32)}},
		{"big endian", elf.EI_DATA, []byte{byte(elf.ELFDATA2MSB)}},
		{"relocatable", 16, []byte{byte(elf.ET_REL), 0}},
		{"aarch64", 18, []byte{byte(elf.EM_AARCH64), 0}},
		{"bad phentsize", 54, []byte{55, 0}},
		{"no phdrs", 56, []byte{0, 0}},
		{"phoff beyond file", 32, []byte{0xff, 0xff, 0xff, 0, 0, 0, 0, 0}},
	} {
		b := append([]byte(nil), orig...)
		copy(b[tc.off:], tc.val)
		path := writeFile(t, "bad", string(b))
		_, err := Load(newMM(t), LoadArgs{Filename: path, Open: hostOpen(t), Argv: []string{"x"}})
		if !errors.Is(err, unix.ENOEXEC) {
			t.Errorf("%s: Load = %v, want ENOEXEC", tc.name, err)
		}
	}
}

// TestVDSO loads a dynamic program with a vDSO: the parameter page and the
// image are mapped next to each other below the interpreter, named for
// /proc/[pid]/maps, shared with the kernel's copy, and AT_SYSINFO_EHDR
// comes first and points at the image.
func TestVDSO(t *testing.T) {
	const path = "/bin/true"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	m := newMM(t)
	v, err := vdso.New(mf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(m, LoadArgs{Filename: path, Open: hostOpen(t), Argv: []string{"true"},
		VDSO: &VDSO{Params: v.Params(), Image: v.Text()}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if res.Auxv[0].Key != linux.AT_SYSINFO_EHDR {
		t.Errorf("auxv starts with %d, want AT_SYSINFO_EHDR", res.Auxv[0].Key)
	}
	sv := readStack(t, m, res.StackTop)
	ehdr := uintptr(sv.auxv[linux.AT_SYSINFO_EHDR])
	if ehdr == 0 || ehdr%linux.PageSize != 0 {
		t.Fatalf("AT_SYSINFO_EHDR = %#x", ehdr)
	}
	img := vdso.Image()
	got := make([]byte, len(img))
	if _, err := m.CopyIn(ehdr, got); err != nil || !bytes.Equal(got, img) {
		t.Fatalf("the image is not at AT_SYSINFO_EHDR: %v", err)
	}
	text, ok := vmaAt(m, ehdr)
	if !ok || text.Name != "[vdso]" || text.Perms != platform.ReadExec || text.Private || text.Start != ehdr {
		t.Errorf("[vdso] VMA = %+v", text)
	}
	params, ok := vmaAt(m, ehdr-vdso.ParamsOffset)
	if !ok || params.Name != "[vvar]" || params.Perms != platform.Read || params.Private ||
		params.Start != ehdr-vdso.ParamsOffset || params.End != ehdr {
		t.Errorf("[vvar] VMA = %+v", params)
	}
	if base := uintptr(sv.auxv[linux.AT_BASE]); text.End > base {
		t.Errorf("[vdso] ends at %#x, above the interpreter at %#x", text.End, base)
	}
	// The page is the kernel's: what the Timekeeper wrote (fall back, until
	// it runs) shows through the mapping.
	flags := make([]byte, 4)
	if _, err := m.CopyIn(ehdr-vdso.ParamsOffset+4, flags); err != nil || binary.LittleEndian.Uint32(flags) != vdso.FlagFallback {
		t.Errorf("[vvar] flags = %x, %v", flags, err)
	}
	// Neither can be made writable.
	if err := m.MProtect(ehdr, linux.PageSize, unix.PROT_READ|unix.PROT_WRITE); err != unix.EACCES {
		t.Errorf("mprotect([vdso], RW) = %v, want EACCES", err)
	}
	if err := m.MProtect(ehdr-vdso.ParamsOffset, linux.PageSize, unix.PROT_WRITE); err != unix.EACCES {
		t.Errorf("mprotect([vvar], W) = %v, want EACCES", err)
	}
}
