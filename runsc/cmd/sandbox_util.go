package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"bufferzone.dev/runsc/config"
)

// openDebugLog opens the debug log for one runsc process ("boot",
// "gofer", …) as --debug-log and --debug-log-fd say. A --debug-log that is
// a directory or ends in "/" gets one file per process in it:
// runsc.<time>.<pid>.<command>.log. With no debug log, output is
// discarded.
func openDebugLog(c *config.Config, command string) (io.Writer, func(), error) {
	if c.DebugLogFD >= 0 {
		f := os.NewFile(uintptr(c.DebugLogFD), "debug-log")
		return f, func() { f.Close() }, nil
	}
	if c.DebugLog == "" {
		return io.Discard, func() {}, nil
	}
	name := c.DebugLog
	if st, err := os.Stat(name); (err == nil && st.IsDir()) || strings.HasSuffix(name, "/") {
		if err := os.MkdirAll(name, 0o755); err != nil {
			return nil, nil, fmt.Errorf("creating debug log directory: %w", err)
		}
		name = filepath.Join(name, fmt.Sprintf("runsc.%s.%d.%s.log", time.Now().Format("20060102-150405.000000"), os.Getpid(), command))
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("opening debug log: %w", err)
	}
	return f, func() { f.Close() }, nil
}
