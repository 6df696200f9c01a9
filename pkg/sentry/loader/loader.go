// Package loader loads programs into a fresh address space for execve: it
// follows "#!" interpreter lines, maps an ELF64 x86-64 executable (static,
// or dynamic with its PT_INTERP interpreter), sets up the data segment and
// the stack, and writes the initial stack the x86-64 psABI defines (argc,
// argv, envp, the auxiliary vector and the strings they point to).
//
// Given a vDSO (LoadArgs.VDSO), Load maps its parameter page ("[vvar]") and
// image ("[vdso]") at the top of the mmap area, the image one parameter page
// above the page, and points AT_SYSINFO_EHDR at the image: glibc, musl and
// Go then call its clock_gettime, gettimeofday and time instead of making
// system calls. Without one there is no AT_SYSINFO_EHDR and they trap.
//
// Address space randomisation is not done yet: PIE executables load at
// linux.ELFETDynBase and interpreters at the mmap base, as Linux places
// them with randomisation off. AT_RANDOM bytes do come from LoadArgs.Random.
package loader

import (
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/linux"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/platform"
)

// Executable is an opened executable file (the program, a "#!"
// interpreter or an ELF interpreter). It is mapped with private file
// mappings, so the address space reads it on faults. If it implements
// mm.RefCounted, Open returns it with one reference that Load drops when it
// is done; the mappings hold their own.
type Executable interface {
	mm.Mappable
}

// LoadArgs says what to load.
type LoadArgs struct {
	// Filename is the path given to execve; it is opened first and
	// reported by AT_EXECFN.
	Filename string
	// Open opens a path in the sandbox for execution, checking execute
	// permission; it is used for Filename, "#!" interpreters and ELF
	// interpreters. Its errors (ENOENT, EACCES, ...) are returned as they
	// are. An Executable that is an mm.RefCounted comes with a reference
	// for Load, which Load drops when it is done with the file (its
	// mappings hold their own).
	Open func(path string) (Executable, error)
	// Argv and Envv are the argument and environment strings.
	Argv, Envv []string
	// Random supplies the 16 AT_RANDOM bytes; nil means crypto/rand.
	Random io.Reader
	// Credentials for AT_UID, AT_EUID, AT_GID, AT_EGID and AT_SECURE.
	UID, EUID, GID, EGID uint32
	// HWCap and HWCap2 are AT_HWCAP (CPUID leaf 1 EDX on x86-64) and
	// AT_HWCAP2.
	HWCap, HWCap2 uint64
	// MinSigStackSize is AT_MINSIGSTKSZ; zero means linux.MINSIGSTKSZ.
	MinSigStackSize uint64
	// VDSO, if set, is mapped into the new address space and announced
	// with AT_SYSINFO_EHDR.
	VDSO *VDSO
}

// VDSO is a virtual dynamic shared object as the loader maps it: two objects
// whose pages live in the memory file and are shared, read-only, by every
// address space.
type VDSO struct {
	// Params is the parameter page(s) the image's code reads, mapped
	// read-only as "[vvar]" directly below the image.
	Params mm.MemoryMappable
	// Image is the ELF shared object, mapped readable and executable as
	// "[vdso]". Its code finds Params at a fixed distance below itself:
	// Params' size rounded up to a page.
	Image mm.MemoryMappable
}

// AuxEntry is one auxiliary vector entry.
type AuxEntry struct {
	Key, Value uint64
}

// LoadResult describes the loaded program.
type LoadResult struct {
	// Entry is where execution starts: the interpreter's entry point for
	// dynamic programs, else the program's.
	Entry uintptr
	// StackTop is the initial stack pointer: it points at argc and is 16
	// byte aligned.
	StackTop uintptr
	// ArgvStart, ArgvEnd, EnvvStart and EnvvEnd delimit the argument and
	// environment strings on the stack.
	ArgvStart, ArgvEnd, EnvvStart, EnvvEnd uintptr
	// Argv is the argument vector the program got (rewritten by "#!"
	// interpreters).
	Argv []string
	// Auxv is the auxiliary vector, ending with AT_NULL.
	Auxv []AuxEntry
	// Path is the path of the ELF file that was loaded (the interpreter
	// of a "#!" script): /proc/[pid]/exe.
	Path string
	// Interpreter is the PT_INTERP path, if any.
	Interpreter string
	// BrkStart is the start of the data segment.
	BrkStart uintptr
}

// stackSize is the size of the initial stack mapping.
const stackSize = linux.DefaultStackSize

// Load loads the program args.Filename into m, which should be empty, and
// returns where to start it. Errors are unix.Errno values: ENOEXEC for files
// that are neither ELF nor scripts (or malformed ones), ELOOP for too many
// nested "#!" interpreters, ELIBBAD for a bad ELF interpreter, E2BIG for
// argument strings that do not fit in the stack, and Open's errors.
func Load(m *mm.MemoryManager, args LoadArgs) (LoadResult, error) {
	path := args.Filename
	argv := append([]string(nil), args.Argv...)
	var f Executable
	for depth := 0; ; depth++ {
		var err error
		f, err = args.Open(path)
		if err != nil {
			return LoadResult{}, err
		}
		hdr := make([]byte, linux.BinprmBufSize)
		n, err := f.ReadAt(hdr, 0)
		if err != nil && err != io.EOF {
			release(f)
			return LoadResult{}, unix.EIO
		}
		hdr = hdr[:n]
		if !bytes.HasPrefix(hdr, []byte("#!")) {
			break
		}
		release(f)
		if depth >= linux.MaxExecRecursion {
			return LoadResult{}, unix.ELOOP
		}
		interp, arg, err := parseInterpreterLine(hdr)
		if err != nil {
			return LoadResult{}, err
		}
		next := []string{interp}
		if arg != "" {
			next = append(next, arg)
		}
		next = append(next, path)
		if len(argv) > 1 {
			next = append(next, argv[1:]...)
		}
		argv = next
		path = interp
	}
	defer release(f)

	main, err := loadELF(m, f, false)
	if err != nil {
		return LoadResult{}, err
	}
	res := LoadResult{Path: path, Argv: argv, Interpreter: main.interp}
	entry := main.entry
	var interpBase uintptr
	if main.interp != "" {
		fi, err := args.Open(main.interp)
		if err != nil {
			return LoadResult{}, err
		}
		defer release(fi)
		in, err := loadELF(m, fi, true)
		if err != nil {
			if errors.Is(err, unix.ENOEXEC) {
				return LoadResult{}, unix.ELIBBAD
			}
			return LoadResult{}, err
		}
		entry = in.entry
		interpBase = in.base
	}
	res.Entry = entry
	res.BrkStart = main.end
	m.SetBrkStart(main.end)

	// The stack: an 8 MiB grows-down mapping at the top of the address
	// space.
	top := m.MaxAddress()
	prot := unix.PROT_READ | unix.PROT_WRITE
	if main.execStack {
		prot |= unix.PROT_EXEC
	}
	if _, err := m.MMap(mm.MMapOpts{
		Addr: top - stackSize, Length: stackSize, Prot: prot,
		Private: true, Anonymous: true, Fixed: true, GrowsDown: true, Name: "[stack]",
	}); err != nil {
		return LoadResult{}, err
	}

	var vdsoBase uintptr
	if args.VDSO != nil {
		var err error
		if vdsoBase, err = mapVDSO(m, args.VDSO); err != nil {
			return LoadResult{}, err
		}
	}

	random := make([]byte, 16)
	rnd := args.Random
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, random); err != nil {
		return LoadResult{}, unix.EIO
	}
	minSig := args.MinSigStackSize
	if minSig == 0 {
		minSig = linux.MINSIGSTKSZ
	}
	secure := uint64(0)
	if args.UID != args.EUID || args.GID != args.EGID {
		secure = 1
	}
	aux := []AuxEntry{
		{linux.AT_MINSIGSTKSZ, minSig},
		{linux.AT_HWCAP, args.HWCap},
		{linux.AT_PAGESZ, linux.PageSize},
		{linux.AT_CLKTCK, linux.CLK_TCK},
		{linux.AT_PHDR, uint64(main.phdr)},
		{linux.AT_PHENT, 56},
		{linux.AT_PHNUM, uint64(main.phnum)},
		{linux.AT_BASE, uint64(interpBase)},
		{linux.AT_FLAGS, 0},
		{linux.AT_ENTRY, uint64(main.entry)},
		{linux.AT_UID, uint64(args.UID)},
		{linux.AT_EUID, uint64(args.EUID)},
		{linux.AT_GID, uint64(args.GID)},
		{linux.AT_EGID, uint64(args.EGID)},
		{linux.AT_SECURE, secure},
		{linux.AT_RANDOM, 0}, // filled in by writeStack
		{linux.AT_HWCAP2, args.HWCap2},
		{linux.AT_EXECFN, 0},   // filled in by writeStack
		{linux.AT_PLATFORM, 0}, // filled in by writeStack
		{linux.AT_NULL, 0},
	}
	if vdsoBase != 0 {
		// First, as Linux's ARCH_DLINFO puts it.
		aux = append([]AuxEntry{{linux.AT_SYSINFO_EHDR, uint64(vdsoBase)}}, aux...)
	}
	if err := writeStack(m, top, &res, args.Filename, args.Envv, random, aux); err != nil {
		return LoadResult{}, err
	}
	flat := make([]uint64, 0, 2*len(res.Auxv))
	for _, e := range res.Auxv {
		flat = append(flat, e.Key, e.Value)
	}
	m.SetAuxv(flat)
	m.SetArgvRange(res.ArgvStart, res.ArgvEnd)
	m.SetEnvvRange(res.EnvvStart, res.EnvvEnd)
	m.SetStackStart(res.StackTop)
	return res, nil
}

// mapVDSO maps v's parameter page and image next to each other, top down
// from the mmap base (below the ELF interpreter, as Linux places them), and
// returns the image's address.
func mapVDSO(m *mm.MemoryManager, v *VDSO) (uintptr, error) {
	const pmask = linux.PageSize - 1
	psize := uintptr(v.Params.Size()+pmask) &^ pmask
	isize := uintptr(v.Image.Size()+pmask) &^ pmask
	if psize == 0 || isize == 0 {
		return 0, unix.EINVAL
	}
	// Reserve both at once so that nothing can come between them.
	base, err := m.MMap(mm.MMapOpts{Length: psize + isize, Prot: unix.PROT_NONE, Private: true, Anonymous: true})
	if err != nil {
		return 0, err
	}
	if _, err := m.MMap(mm.MMapOpts{
		Addr: base, Length: psize, Prot: unix.PROT_READ, Shared: true, Fixed: true,
		Mappable: v.Params, MaxPerms: platform.Read, Name: "[vvar]",
	}); err != nil {
		return 0, err
	}
	if _, err := m.MMap(mm.MMapOpts{
		Addr: base + psize, Length: isize, Prot: unix.PROT_READ | unix.PROT_EXEC, Shared: true, Fixed: true,
		Mappable: v.Image, MaxPerms: platform.ReadExec, Name: "[vdso]",
	}); err != nil {
		return 0, err
	}
	return base + psize, nil
}

// release drops the loader's reference on an executable, if it counts them.
func release(f Executable) {
	if rc, ok := f.(mm.RefCounted); ok {
		rc.DecRef()
	}
}

// parseInterpreterLine parses a "#!" line: the interpreter path and at most
// one argument (the rest of the line, trimmed), as Linux does.
func parseInterpreterLine(hdr []byte) (interp, arg string, err error) {
	line := hdr[2:]
	truncated := false
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(hdr) == linux.BinprmBufSize {
		truncated = true
	}
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' }
	line = bytes.TrimLeftFunc(line, isSpace)
	end := bytes.IndexFunc(line, func(r rune) bool { return isSpace(r) || r == 0 })
	if end < 0 {
		if truncated {
			// The interpreter's name may be cut off.
			return "", "", unix.ENOEXEC
		}
		end = len(line)
	}
	if end == 0 {
		return "", "", unix.ENOEXEC
	}
	interp = string(line[:end])
	rest := bytes.TrimFunc(line[end:], isSpace)
	if i := bytes.IndexByte(rest, 0); i >= 0 {
		rest = bytes.TrimRightFunc(rest[:i], isSpace)
	}
	return interp, string(rest), nil
}

// writeStack writes the strings, argc, argv, envp and auxv below top and
// fills in res. Layout, from the top down: a null word, the AT_EXECFN
// string, environment strings, argument strings, the platform string, the
// AT_RANDOM bytes, then (16-byte aligned) argc, argv[], NULL, envp[], NULL
// and the auxiliary vector.
func writeStack(m *mm.MemoryManager, top uintptr, res *LoadResult, execfn string, envv []string, random []byte, aux []AuxEntry) error {
	var strs bytes.Buffer
	argOffs := make([]int, len(res.Argv))
	for i, s := range res.Argv {
		argOffs[i] = strs.Len()
		strs.WriteString(s)
		strs.WriteByte(0)
	}
	argEnd := strs.Len()
	envOffs := make([]int, len(envv))
	for i, s := range envv {
		envOffs[i] = strs.Len()
		strs.WriteString(s)
		strs.WriteByte(0)
	}
	envEnd := strs.Len()
	execfnOff := strs.Len()
	strs.WriteString(execfn)
	strs.WriteByte(0)
	strs.Write(make([]byte, 8)) // the null word at the very top

	// Linux limits the strings to a quarter of the stack rlimit.
	if strs.Len() > stackSize/4 {
		return unix.E2BIG
	}
	base := top - uintptr(strs.Len())
	sp := base
	sp -= uintptr(len("x86_64") + 1)
	platformAddr := sp
	sp -= uintptr(len(random))
	randomAddr := sp
	sp &^= 15

	for i := range aux {
		switch aux[i].Key {
		case linux.AT_RANDOM:
			aux[i].Value = uint64(randomAddr)
		case linux.AT_EXECFN:
			aux[i].Value = uint64(base) + uint64(execfnOff)
		case linux.AT_PLATFORM:
			aux[i].Value = uint64(platformAddr)
		}
	}
	words := 1 + len(res.Argv) + 1 + len(envv) + 1 + 2*len(aux)
	sp = (sp - uintptr(8*words)) &^ 15
	vec := make([]byte, 0, 8*words)
	put := func(v uint64) { vec = binary.LittleEndian.AppendUint64(vec, v) }
	put(uint64(len(res.Argv)))
	for _, o := range argOffs {
		put(uint64(base) + uint64(o))
	}
	put(0)
	for _, o := range envOffs {
		put(uint64(base) + uint64(o))
	}
	put(0)
	for _, e := range aux {
		put(e.Key)
		put(e.Value)
	}

	for _, w := range []struct {
		addr uintptr
		b    []byte
	}{
		{base, strs.Bytes()},
		{platformAddr, []byte("x86_64\x00")},
		{randomAddr, random},
		{sp, vec},
	} {
		if _, err := m.CopyOut(w.addr, w.b); err != nil {
			return err
		}
	}
	res.StackTop = sp
	res.ArgvStart, res.ArgvEnd = base, base+uintptr(argEnd)
	res.EnvvStart, res.EnvvEnd = base+uintptr(argEnd), base+uintptr(envEnd)
	res.Auxv = aux
	return nil
}

// elfInfo describes a loaded ELF file.
type elfInfo struct {
	// entry is the entry point, relocated.
	entry uintptr
	// base is the load bias (AT_BASE for interpreters).
	base uintptr
	// phdr and phnum locate the program headers in memory (AT_PHDR).
	phdr  uintptr
	phnum int
	// end is the page-aligned end of the highest segment (brk start).
	end uintptr
	// interp is the PT_INTERP path.
	interp string
	// execStack is set unless PT_GNU_STACK says the stack is not
	// executable.
	execStack bool
}

// The ELF64 header and program header sizes.
const (
	ehdrSize = 64
	phdrSize = 56
	// maxPhdrBytes bounds the program header table, as Linux's
	// ELF_MIN_ALIGN-sized limit does.
	maxPhdrBytes = 65536
)

type phdr struct {
	typ, flags                       uint32
	off, vaddr, filesz, memsz, align uint64
}

// loadELF maps the ELF file f into m. isInterp says f is an ELF
// interpreter: it goes at the mmap base and may not have one itself.
func loadELF(m *mm.MemoryManager, f Executable, isInterp bool) (elfInfo, error) {
	var info elfInfo
	eh := make([]byte, ehdrSize)
	if n, _ := f.ReadAt(eh, 0); n < ehdrSize {
		return info, unix.ENOEXEC
	}
	if !bytes.Equal(eh[:4], []byte(elf.ELFMAG)) {
		return info, unix.ENOEXEC
	}
	le := binary.LittleEndian
	if elf.Class(eh[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(eh[elf.EI_DATA]) != elf.ELFDATA2LSB ||
		elf.Machine(le.Uint16(eh[18:])) != elf.EM_X86_64 {
		return info, unix.ENOEXEC
	}
	typ := elf.Type(le.Uint16(eh[16:]))
	if typ != elf.ET_EXEC && typ != elf.ET_DYN {
		return info, unix.ENOEXEC
	}
	entry := le.Uint64(eh[24:])
	phoff := le.Uint64(eh[32:])
	phentsize := le.Uint16(eh[54:])
	phnum := int(le.Uint16(eh[56:]))
	if phentsize != phdrSize || phnum < 1 || phnum*phdrSize > maxPhdrBytes || phoff > 1<<62 {
		return info, unix.ENOEXEC
	}
	raw := make([]byte, phnum*phdrSize)
	if n, _ := f.ReadAt(raw, int64(phoff)); n < len(raw) {
		return info, unix.ENOEXEC
	}
	size := f.Size()
	var loads []phdr
	var phdrVaddr uint64
	hasPhdr := false
	info.execStack = true // no PT_GNU_STACK: executable, as on x86-64
	for i := 0; i < phnum; i++ {
		b := raw[i*phdrSize:]
		p := phdr{
			typ: le.Uint32(b[0:]), flags: le.Uint32(b[4:]), off: le.Uint64(b[8:]),
			vaddr: le.Uint64(b[16:]), filesz: le.Uint64(b[32:]), memsz: le.Uint64(b[40:]), align: le.Uint64(b[48:]),
		}
		switch elf.ProgType(p.typ) {
		case elf.PT_LOAD:
			if p.filesz > p.memsz || p.off%linux.PageSize != p.vaddr%linux.PageSize ||
				p.vaddr+p.memsz < p.vaddr || p.vaddr+p.memsz > 1<<47 ||
				p.off+p.filesz < p.off || p.off+p.filesz > uint64(size) {
				return info, unix.ENOEXEC
			}
			if n := len(loads); n > 0 && p.vaddr < loads[n-1].vaddr+loads[n-1].memsz {
				// Segments must be sorted and not overlap.
				return info, unix.ENOEXEC
			}
			if p.memsz > 0 {
				loads = append(loads, p)
			}
		case elf.PT_INTERP:
			if isInterp {
				continue
			}
			if info.interp != "" || p.filesz < 2 || p.filesz > unix.PathMax {
				return info, unix.ENOEXEC
			}
			buf := make([]byte, p.filesz)
			if n, _ := f.ReadAt(buf, int64(p.off)); n < len(buf) || buf[len(buf)-1] != 0 {
				return info, unix.ENOEXEC
			}
			info.interp = string(buf[:bytes.IndexByte(buf, 0)])
			if info.interp == "" {
				return info, unix.ENOEXEC
			}
		case elf.PT_GNU_STACK:
			info.execStack = p.flags&uint32(elf.PF_X) != 0
		case elf.PT_PHDR:
			phdrVaddr, hasPhdr = p.vaddr, true
		}
	}
	if len(loads) == 0 {
		return info, unix.ENOEXEC
	}
	first := loads[0].vaddr &^ (linux.PageSize - 1)
	last := loads[len(loads)-1]
	span := (last.vaddr + last.memsz + linux.PageSize - 1) &^ (linux.PageSize - 1)
	span -= first

	// Choose the load bias.
	var bias uintptr
	reserved := false
	switch {
	case typ == elf.ET_EXEC:
		bias = 0
	case !isInterp && info.interp != "":
		// A PIE program with an interpreter.
		bias = uintptr(linux.ELFETDynBase - first)
	default:
		// An interpreter, or a static PIE / interpreter run directly:
		// anywhere, top down from the mmap base. Reserve the whole span
		// so the segments keep their distances.
		addr, err := m.MMap(mm.MMapOpts{Length: uintptr(span), Prot: unix.PROT_NONE, Private: true, Anonymous: true})
		if err != nil {
			return info, err
		}
		bias = addr - uintptr(first)
		reserved = true
	}
	lo := uintptr(first) + bias
	if lo < m.MinAddress() || uint64(lo)+span > uint64(m.MaxAddress()) {
		return info, unix.ENOMEM
	}

	for _, p := range loads {
		if err := mapSegment(m, f, p, bias); err != nil {
			return info, err
		}
	}
	// Remove the reservation left in holes between segments.
	prevEnd := uintptr(first) + bias
	for _, p := range loads {
		s := uintptr(p.vaddr&^(linux.PageSize-1)) + bias
		if s > prevEnd && reserved {
			if err := m.MUnmap(prevEnd, s-prevEnd); err != nil {
				return info, err
			}
		}
		prevEnd = uintptr((p.vaddr+p.memsz+linux.PageSize-1)&^(linux.PageSize-1)) + bias
	}

	info.entry = uintptr(entry) + bias
	info.base = bias
	info.end = lo + uintptr(span)
	info.phnum = phnum
	if hasPhdr {
		info.phdr = uintptr(phdrVaddr) + bias
	} else {
		for _, p := range loads {
			if p.off <= phoff && phoff+uint64(phnum*phdrSize) <= p.off+p.filesz {
				info.phdr = uintptr(p.vaddr+phoff-p.off) + bias
				break
			}
		}
	}
	return info, nil
}

// mapSegment maps one PT_LOAD segment: its file bytes with a private file
// mapping, the rest of its last file page zeroed, and anonymous memory for
// the remainder of its memory size (bss).
func mapSegment(m *mm.MemoryManager, f Executable, p phdr, bias uintptr) error {
	const pmask = linux.PageSize - 1
	prot := 0
	if p.flags&uint32(elf.PF_R) != 0 {
		prot |= unix.PROT_READ
	}
	if p.flags&uint32(elf.PF_W) != 0 {
		prot |= unix.PROT_WRITE
	}
	if p.flags&uint32(elf.PF_X) != 0 {
		prot |= unix.PROT_EXEC
	}
	start := uintptr(p.vaddr&^pmask) + bias
	fileEnd := uintptr(p.vaddr+p.filesz) + bias
	memEnd := uintptr(p.vaddr+p.memsz) + bias
	fileMapEnd := (fileEnd + pmask) &^ pmask
	memMapEnd := (memEnd + pmask) &^ pmask

	if p.filesz > 0 {
		// Zeroing the tail of the last file page needs write access for a
		// moment.
		zeroTail := p.memsz > p.filesz && fileEnd&pmask != 0
		mprot := prot
		if zeroTail {
			mprot |= unix.PROT_WRITE
		}
		if _, err := m.MMap(mm.MMapOpts{
			Addr: start, Length: fileMapEnd - start, Prot: mprot, Private: true, Fixed: true,
			Mappable: f, Offset: int64(p.off &^ pmask),
		}); err != nil {
			return err
		}
		if zeroTail {
			if _, err := m.ZeroOut(fileEnd, int(fileMapEnd-fileEnd)); err != nil {
				return err
			}
			if mprot != prot {
				if err := m.MProtect(start, fileMapEnd-start, prot); err != nil {
					return err
				}
			}
		}
	} else {
		fileMapEnd = start
	}
	if memMapEnd > fileMapEnd {
		if _, err := m.MMap(mm.MMapOpts{
			Addr: fileMapEnd, Length: memMapEnd - fileMapEnd, Prot: prot, Private: true, Anonymous: true, Fixed: true,
		}); err != nil {
			return err
		}
	}
	return nil
}
