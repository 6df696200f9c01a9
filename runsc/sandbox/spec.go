package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The spec pipe (`runsc boot --spec-fd`) carries the Sentry's OCI spec as
// JSON and then, once the Sentry's host set-up is complete (it is in the
// sandbox's cgroup), the JSON string specGo. The spec is sent at once, so
// that the Sentry decodes it while it starts (the first use of the spec's
// many types by encoding/json costs milliseconds); it is used only once
// specGo has come, so that every process the Sentry forks is born in the
// cgroup. A pipe that ends before specGo means the runtime went away.
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

// ReceiveSpec reads what SendSpec writes: it returns the spec once specGo
// has followed it.
func ReceiveSpec(r io.Reader) (*specs.Spec, error) {
	dec := json.NewDecoder(r)
	var spec specs.Spec
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("reading the spec: %w", err)
	}
	var word string
	err := dec.Decode(&word)
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the runtime went away before the sandbox was set up")
	}
	if err != nil || word != specGo {
		return nil, fmt.Errorf("after the spec: want %q, got %q (%v)", specGo, word, err)
	}
	return &spec, nil
}
