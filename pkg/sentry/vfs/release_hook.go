package vfs

// Lock order: FileDescription.hooksMu is a leaf; hooks run without it.

// ReleaseHook is told when a file description's last reference goes,
// before its FileImpl is released. epoll uses it to drop the file from
// every interest list, as Linux does when the last reference to a watched
// open file description is closed.
type ReleaseHook interface {
	FileReleased(fd *FileDescription)
}

// AddReleaseHook arranges for h.FileReleased(fd) to run when fd's last
// reference is dropped. Adding the same hook twice registers it once.
func (fd *FileDescription) AddReleaseHook(h ReleaseHook) {
	fd.hooksMu.Lock()
	if fd.hooks == nil {
		fd.hooks = make(map[ReleaseHook]struct{})
	}
	fd.hooks[h] = struct{}{}
	fd.hooksMu.Unlock()
}

// RemoveReleaseHook undoes AddReleaseHook.
func (fd *FileDescription) RemoveReleaseHook(h ReleaseHook) {
	fd.hooksMu.Lock()
	delete(fd.hooks, h)
	fd.hooksMu.Unlock()
}

// runReleaseHooks calls and forgets every hook.
func (fd *FileDescription) runReleaseHooks() {
	fd.hooksMu.Lock()
	hooks := fd.hooks
	fd.hooks = nil
	fd.hooksMu.Unlock()
	for h := range hooks {
		h.FileReleased(fd)
	}
}
