package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunHooks runs hooks in order on the host, as the OCI runtime spec says:
// each gets the container's state JSON on its stdin, its path, args and
// env from the spec, and its timeout (in seconds) if set. The first hook
// that fails stops the rest, and its error is returned.
func RunHooks(hooks []specs.Hook, st specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	input, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding hook state: %w", err)
	}
	for _, h := range hooks {
		if err := runHook(h, input); err != nil {
			return err
		}
	}
	return nil
}

func runHook(h specs.Hook, input []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("hook %s: timeout must be positive", h.Path)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	} else {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("hook %s: timed out after %ds", h.Path, *h.Timeout)
		}
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("hook %s: %w: %s", h.Path, err, strings.ReplaceAll(msg, "\n", " "))
		}
		return fmt.Errorf("hook %s: %w", h.Path, err)
	}
	return nil
}
