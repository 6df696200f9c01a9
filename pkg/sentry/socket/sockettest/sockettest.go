// Package sockettest holds what the socket families' unit tests share: a
// caller to run socket operations as, outside any task.
package sockettest

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Context is a vfs.Context with root's credentials, no address space (copies
// fail with EFAULT) and no interruptions.
type Context struct{}

// Credentials returns root's credentials.
func (Context) Credentials() *auth.Credentials { return auth.NewUser(0, 0, nil) }

// CopyIn fails: there is no address space.
func (Context) CopyIn(uintptr, []byte) (int, error) { return 0, unix.EFAULT }

// CopyOut fails: there is no address space.
func (Context) CopyOut(uintptr, []byte) (int, error) { return 0, unix.EFAULT }

// Interrupted returns a channel that is never ready.
func (Context) Interrupted() <-chan struct{} { return nil }
