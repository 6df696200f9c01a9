// Package vfstest has what tests of file systems share: a vfs.Context for
// a given user, with no address space and never interrupted.
package vfstest

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Context is a vfs.Context acting as Creds. CopyIn and CopyOut fail with
// EFAULT: there is no application memory.
type Context struct{ Creds *auth.Credentials }

// User returns a Context for uid and gid with no supplementary groups.
func User(uid, gid uint32) Context { return Context{Creds: auth.NewUser(uid, gid, nil)} }

// Credentials implements vfs.Context.
func (c Context) Credentials() *auth.Credentials { return c.Creds }

// CopyIn implements vfs.Context.
func (c Context) CopyIn(uintptr, []byte) (int, error) { return 0, unix.EFAULT }

// CopyOut implements vfs.Context.
func (c Context) CopyOut(uintptr, []byte) (int, error) { return 0, unix.EFAULT }

// Interrupted implements vfs.Context: never.
func (c Context) Interrupted() <-chan struct{} { return nil }
