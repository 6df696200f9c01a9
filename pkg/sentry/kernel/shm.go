package kernel

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/mm"
)

// System V shared memory (shmget(2) and friends). The registry belongs to
// the kernel (one IPC namespace per sandbox).
//
// Lock order: shmRegistry.mu > ShmSegment.mu.

// Limits as Linux's defaults.
const (
	ShmMin = 1
	ShmMax = 1 << 62 // SHMMAX default (ULONG_MAX - 2^24 rounded): effectively unlimited
	ShmMni = 4096
	ShmAll = 1 << 62
	// IPCPrivate is IPC_PRIVATE.
	IPCPrivate = 0
)

// shmRegistry maps keys and IDs to segments.
type shmRegistry struct {
	mu     sync.Mutex
	byID   map[int32]*ShmSegment
	byKey  map[int32]*ShmSegment
	nextID int32
}

// ShmSegment is one shared memory segment. Each attachment is a VMA that
// maps the segment; the VMA's reference counts the attachment.
type ShmSegment struct {
	reg *shmRegistry
	*mm.SharedMemory

	ID      int32
	Key     int32
	SegSize uint64

	mu         sync.Mutex
	mode       uint16
	uid, gid   uint32
	cuid, cgid uint32
	cpid, lpid int32
	atime      time.Time
	dtime      time.Time
	ctime      time.Time
	nattch     int
	destroyed  bool
}

// IncRef counts an attachment (mm calls it for each VMA mapping the segment).
func (s *ShmSegment) IncRef() {
	s.mu.Lock()
	s.nattch++
	s.mu.Unlock()
	s.SharedMemory.IncRef()
}

// DecRef drops an attachment; a segment marked for removal goes with its
// last attachment.
func (s *ShmSegment) DecRef() {
	s.mu.Lock()
	s.nattch--
	gone := s.nattch == 0 && s.destroyed
	s.dtime = time.Now()
	s.mu.Unlock()
	s.SharedMemory.DecRef()
	if gone {
		s.reg.remove(s)
	}
}

func (r *shmRegistry) init() {
	if r.byID == nil {
		r.byID = make(map[int32]*ShmSegment)
		r.byKey = make(map[int32]*ShmSegment)
	}
}

// remove drops s from the registry and releases its own reference.
func (r *shmRegistry) remove(s *ShmSegment) {
	r.mu.Lock()
	if r.byID[s.ID] != s {
		r.mu.Unlock()
		return
	}
	delete(r.byID, s.ID)
	if s.Key != IPCPrivate && r.byKey[s.Key] == s {
		delete(r.byKey, s.Key)
	}
	r.mu.Unlock()
	s.SharedMemory.DecRef()
}

func shmAccess(c *auth.Credentials, s *ShmSegment, ats uint32) bool {
	s.mu.Lock()
	mode, uid, gid, cuid := uint32(s.mode), s.uid, s.gid, s.cuid
	s.mu.Unlock()
	if c.EffectiveUID == uid || c.EffectiveUID == cuid {
		return (mode>>6)&ats == ats || c.HasCapability(31) // CAP_IPC_OWNER
	}
	if c.InGroup(gid) {
		return (mode>>3)&ats == ats || c.HasCapability(31)
	}
	return mode&ats == ats || c.HasCapability(31)
}

// ShmGet implements shmget(2).
func (t *Task) ShmGet(key int32, size uint64, flags int32) (int32, error) {
	r := &t.k.shm
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	creds := t.Credentials()
	if key != IPCPrivate {
		if s, ok := r.byKey[key]; ok {
			if flags&unix.IPC_CREAT != 0 && flags&unix.IPC_EXCL != 0 {
				return 0, unix.EEXIST
			}
			if size > s.SegSize {
				return 0, unix.EINVAL
			}
			var ats uint32
			if flags&0o400 != 0 {
				ats |= 4
			}
			if flags&0o200 != 0 {
				ats |= 2
			}
			if !shmAccess(creds, s, ats) {
				return 0, unix.EACCES
			}
			return s.ID, nil
		}
		if flags&unix.IPC_CREAT == 0 {
			return 0, unix.ENOENT
		}
	}
	if size < ShmMin || size > ShmMax {
		return 0, unix.EINVAL
	}
	if len(r.byID) >= ShmMni {
		return 0, unix.ENOSPC
	}
	pages := (size + 4095) &^ 4095
	for {
		r.nextID++
		if r.nextID < 0 {
			r.nextID = 0
		}
		if _, taken := r.byID[r.nextID]; !taken {
			break
		}
	}
	now := time.Now()
	s := &ShmSegment{
		reg: r, SharedMemory: mm.NewSharedMemory(t.k.MemoryFile, int64(pages)),
		ID: r.nextID, Key: key, SegSize: size,
		mode: uint16(flags & 0o777), uid: creds.EffectiveUID, gid: creds.EffectiveGID,
		cuid: creds.EffectiveUID, cgid: creds.EffectiveGID, cpid: t.tg.pid, ctime: now,
	}
	r.byID[s.ID] = s
	if key != IPCPrivate {
		r.byKey[key] = s
	}
	return s.ID, nil
}

// shmByID returns the segment with the given ID.
func (k *Kernel) shmByID(id int32) (*ShmSegment, error) {
	r := &k.shm
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byID[id]
	if !ok {
		return nil, unix.EINVAL
	}
	return s, nil
}

// SHM flags.
const (
	shmRdonly = 0o10000
	shmRnd    = 0o20000
	shmRemap  = 0o40000
	shmExec   = 0o100000
	shmLBA    = 4096
)

// ShmAt implements shmat(2).
func (t *Task) ShmAt(id int32, addr uintptr, flags int32) (uintptr, error) {
	s, err := t.k.shmByID(id)
	if err != nil {
		return 0, err
	}
	if addr != 0 {
		if flags&shmRnd != 0 {
			addr &^= shmLBA - 1
		} else if addr%shmLBA != 0 {
			return 0, unix.EINVAL
		}
	} else if flags&shmRemap != 0 {
		return 0, unix.EINVAL
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	ats := uint32(6)
	if flags&shmRdonly != 0 {
		prot, ats = unix.PROT_READ, 4
	}
	if flags&shmExec != 0 {
		prot |= unix.PROT_EXEC
	}
	if !shmAccess(t.Credentials(), s, ats) {
		return 0, unix.EACCES
	}
	s.mu.Lock()
	destroyed := s.destroyed
	s.mu.Unlock()
	if destroyed {
		return 0, unix.EIDRM
	}
	opts := mm.MMapOpts{
		Addr: addr, Length: uintptr(s.SegSize), Prot: prot, Shared: true,
		Fixed: addr != 0, FixedNoReplace: addr != 0 && flags&shmRemap == 0,
		Mappable: s, Name: "SYSV",
	}
	opts.MaxPerms.Read, opts.MaxPerms.Execute = true, true
	opts.MaxPerms.Write = flags&shmRdonly == 0
	if opts.FixedNoReplace {
		opts.Fixed = false
	}
	got, err := t.MemoryManager().MMap(opts)
	if err != nil {
		if err == unix.EEXIST {
			return 0, unix.EINVAL
		}
		return 0, err
	}
	s.mu.Lock()
	s.atime, s.lpid = time.Now(), t.tg.pid
	s.mu.Unlock()
	return got, nil
}

// ShmDt implements shmdt(2): it unmaps the segment attached at addr.
func (t *Task) ShmDt(addr uintptr) error {
	if addr%shmLBA != 0 {
		return unix.EINVAL
	}
	m := t.MemoryManager()
	for v := range m.VMAs() {
		if v.Start != addr || v.Offset != 0 {
			continue
		}
		s, ok := v.Mappable.(*ShmSegment)
		if !ok {
			continue
		}
		s.mu.Lock()
		s.lpid = t.tg.pid
		s.mu.Unlock()
		return m.MUnmap(addr, uintptr((s.SegSize+4095)&^4095))
	}
	return unix.EINVAL
}

// ShmIDDS is struct shmid64_ds on x86-64.
type ShmIDDS struct {
	Key                  int32
	UID, GID, CUID, CGID uint32
	Mode                 uint16
	_                    uint16
	Seq                  uint16
	_                    uint16
	_                    [2]uint64
	Segsz                uint64
	Atime, Dtime, Ctime  int64
	Cpid, Lpid           int32
	Nattch               uint64
	_                    [2]uint64
}

// ShmCtl implements shmctl(2)'s IPC_STAT, IPC_SET and IPC_RMID. For
// IPC_STAT and IPC_SET, ds is read or written by the caller.
func (t *Task) ShmCtl(id int32, cmd int32, ds *ShmIDDS) error {
	s, err := t.k.shmByID(id)
	if err != nil {
		return err
	}
	creds := t.Credentials()
	owner := func() bool {
		return creds.EffectiveUID == s.uid || creds.EffectiveUID == s.cuid || creds.HasCapability(auth.CapSysAdmin)
	}
	switch cmd {
	case unix.IPC_STAT:
		if !shmAccess(creds, s, 4) {
			return unix.EACCES
		}
		s.mu.Lock()
		*ds = ShmIDDS{
			Key: s.Key, UID: s.uid, GID: s.gid, CUID: s.cuid, CGID: s.cgid, Mode: s.mode,
			Segsz: s.SegSize, Cpid: s.cpid, Lpid: s.lpid, Nattch: uint64(s.nattch),
			Atime: unixOrZero(s.atime), Dtime: unixOrZero(s.dtime), Ctime: unixOrZero(s.ctime),
		}
		if s.destroyed {
			ds.Mode |= 0o1000 // SHM_DEST
		}
		s.mu.Unlock()
		return nil
	case unix.IPC_SET:
		s.mu.Lock()
		defer s.mu.Unlock()
		if !owner() {
			return unix.EPERM
		}
		s.uid, s.gid = ds.UID, ds.GID
		s.mode = s.mode&^0o777 | ds.Mode&0o777
		s.ctime = time.Now()
		return nil
	case unix.IPC_RMID:
		s.mu.Lock()
		if !owner() {
			s.mu.Unlock()
			return unix.EPERM
		}
		s.destroyed = true
		gone := s.nattch == 0
		s.mu.Unlock()
		// The key is free at once; the ID lives until the last detach.
		t.k.shm.mu.Lock()
		if s.Key != IPCPrivate && t.k.shm.byKey[s.Key] == s {
			delete(t.k.shm.byKey, s.Key)
		}
		t.k.shm.mu.Unlock()
		if gone {
			t.k.shm.remove(s)
		}
		return nil
	case 11, 12: // SHM_LOCK, SHM_UNLOCK: memory is never swapped here.
		if !owner() {
			return unix.EPERM
		}
		return nil
	}
	return unix.EINVAL
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
