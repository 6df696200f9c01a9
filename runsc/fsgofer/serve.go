package fsgofer

import (
	"fmt"
	"os"

	"bufferzone.dev/pkg/p9"
)

// Serve serves the directory (or regular file) root over the connected Unix socket fd (the
// Gofer's end of its socketpair with the Sentry) until the Sentry closes
// the connection. It takes ownership of fd.
func Serve(root string, readOnly bool, fd int) error {
	// Closed on every path, so that the Sentry sees a failed root as a
	// closed connection rather than waiting on it.
	sock := os.NewFile(uintptr(fd), "gofer-socket")
	defer sock.Close()
	a, err := New(root, readOnly)
	if err != nil {
		return err
	}
	defer a.(*attacher).root.decRef()
	if err := p9.NewServer(a).Serve(sock); err != nil {
		return fmt.Errorf("fsgofer: serving %q: %w", root, err)
	}
	return nil
}
