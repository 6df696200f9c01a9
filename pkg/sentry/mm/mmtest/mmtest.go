// Package mmtest provides a fake platform for tests of code that manages
// address spaces (mm, loader, kernel) without running application code: its
// address spaces record the MapFile, MapHostFile and Unmap calls they
// receive.
package mmtest

import (
	"sync"

	"bufferzone.dev/pkg/sentry/platform"
)

// Default bounds of the fake user address space: Linux x86-64's with
// 4-level page tables.
const (
	MinUserAddress = 0x10000
	MaxUserAddress = 0x7ffffffff000
)

// Platform is a fake platform.Platform whose address spaces are
// *AddressSpace. NewContext is not supported.
type Platform struct {
	mu  sync.Mutex
	ASs []*AddressSpace
	// QueueMappings makes the address spaces it makes from now on
	// platform.MappingQueuers.
	QueueMappings bool
}

// Name implements platform.Platform.
func (p *Platform) Name() string { return "fake" }

// NewAddressSpace implements platform.Platform.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	p.mu.Lock()
	as := &AddressSpace{queues: p.QueueMappings}
	p.ASs = append(p.ASs, as)
	p.mu.Unlock()
	return as, nil
}

// NewContext implements platform.Platform; it always fails.
func (p *Platform) NewContext() (platform.Context, error) {
	return nil, platform.ErrContextDead
}

// MinUserAddress implements platform.Platform.
func (p *Platform) MinUserAddress() uintptr { return MinUserAddress }

// MaxUserAddress implements platform.Platform.
func (p *Platform) MaxUserAddress() uintptr { return MaxUserAddress }

// MapCall records one AddressSpace.MapFile call, or with Host set one
// MapHostFile call.
type MapCall struct {
	Addr   uintptr
	Host   platform.HostFile
	Offset int64
	Length uintptr
	Access platform.AccessType
}

// UnmapCall records one AddressSpace.Unmap call.
type UnmapCall struct {
	Addr, Length uintptr
}

// AddressSpace is a fake platform.AddressSpace that records calls.
type AddressSpace struct {
	mu       sync.Mutex
	Maps     []MapCall
	Unmaps   []UnmapCall
	Released bool
	// NoHostFiles makes CanMapHostFile false (an address space that
	// holds as many host files as it may).
	NoHostFiles bool
	queues      bool
}

// QueuesMappings implements platform.MappingQueuer.
func (as *AddressSpace) QueuesMappings() bool { return as.queues }

// MapFile implements platform.AddressSpace.
func (as *AddressSpace) MapFile(addr uintptr, offset int64, length uintptr, at platform.AccessType) error {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.Maps = append(as.Maps, MapCall{Addr: addr, Offset: offset, Length: length, Access: at})
	return nil
}

// CanMapHostFile implements platform.HostFileMapper: unless NoHostFiles.
func (as *AddressSpace) CanMapHostFile(f platform.HostFile) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	return !as.NoHostFiles
}

// MapHostFile implements platform.HostFileMapper.
func (as *AddressSpace) MapHostFile(addr uintptr, f platform.HostFile, offset int64, length uintptr, at platform.AccessType) error {
	as.mu.Lock()
	defer as.mu.Unlock()
	at.Write = false
	as.Maps = append(as.Maps, MapCall{Addr: addr, Host: f, Offset: offset, Length: length, Access: at})
	return nil
}

// Unmap implements platform.AddressSpace.
func (as *AddressSpace) Unmap(addr, length uintptr) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.Unmaps = append(as.Unmaps, UnmapCall{addr, length})
}

// Release implements platform.AddressSpace.
func (as *AddressSpace) Release() {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.Released = true
}

// Reset forgets the recorded calls.
func (as *AddressSpace) Reset() {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.Maps, as.Unmaps = nil, nil
}

// Calls returns copies of the recorded calls.
func (as *AddressSpace) Calls() ([]MapCall, []UnmapCall) {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]MapCall(nil), as.Maps...), append([]UnmapCall(nil), as.Unmaps...)
}
