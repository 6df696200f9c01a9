package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The spec pipe (`runsc boot --spec-fd`) carries the Sentry's OCI spec as
// JSON and then, once the Sentry's host set-up is complete (it is in the
// sandbox's cgroup), the JSON string specGo. The spec is sent at once, so
// that the Sentry decodes it while it starts (the first use of the spec's
// many types by encoding/json costs milliseconds); it is used only once
// specGo has come, so that every process the Sentry forks is born in the
// cgroup: the Sentry builds its kernel meanwhile, and waits for specGo only
// before it forks (the first move into a cgroup waits for an RCU grace
// period, 10-20 ms here). A pipe that ends before specGo means the runtime
// went away.
const specGo = "go"

// SendSpec writes spec and specGo to w, for a Sentry with nothing to wait
// for.
func SendSpec(w io.Writer, spec *specs.Spec) error {
	if err := writeSpec(w, spec); err != nil {
		return err
	}
	return writeSpecGo(w)
}

// writeSpec writes spec to w.
func writeSpec(w io.Writer, spec *specs.Spec) error {
	if err := json.NewEncoder(w).Encode(spec); err != nil {
		return fmt.Errorf("sending the spec to the sentry: %w", err)
	}
	return nil
}

// writeSpecGo writes specGo to w.
func writeSpecGo(w io.Writer) error {
	if err := json.NewEncoder(w).Encode(specGo); err != nil {
		return fmt.Errorf("telling the sentry to go: %w", err)
	}
	return nil
}

// ReceiveSpec reads the spec that SendSpec (or Start) writes first, and
// returns it with hostReady, which waits for specGo and then closes r. The
// Sentry decodes the spec and builds its kernel while the runtime finishes
// the sandbox's host set-up, and calls hostReady before it forks its first
// process (see boot.Args.HostReady). hostReady may be called more than
// once; each call returns the first's result.
func ReceiveSpec(r io.ReadCloser) (spec *specs.Spec, hostReady func() error, err error) {
	dec := json.NewDecoder(r)
	spec = new(specs.Spec)
	if err := dec.Decode(spec); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("reading the spec: %w", err)
	}
	hostReady = sync.OnceValue(func() error {
		defer r.Close()
		var word string
		err := dec.Decode(&word)
		if errors.Is(err, io.EOF) {
			return errors.New("the runtime went away before the sandbox was set up")
		}
		if err != nil || word != specGo {
			return fmt.Errorf("after the spec: want %q, got %q (%v)", specGo, word, err)
		}
		return nil
	})
	return spec, hostReady, nil
}
