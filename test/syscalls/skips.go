package syscalls

// Skip says why a test file or case is not expected to pass in the sandbox
// yet. Every entry needs a reason and an issue; an entry whose case passes
// in the sandbox fails the run, so the list only ever shrinks.
type Skip struct {
	Reason string
	Issue  string
	// Platforms limits the entry to these platforms; empty means all.
	Platforms []string
}

// SandboxSkips is the skip list. A key is either a test file's base name
// without ".cc" ("file_write": the file is not run in the sandbox at all) or
// "file/Suite.Case" (the case runs, and its result is ignored unless it
// passes).
var SandboxSkips = map[string]Skip{}

// skipFor returns the entry that applies to key on platform, if any.
func skipFor(key, platform string) (Skip, bool) {
	s, ok := SandboxSkips[key]
	if !ok {
		return Skip{}, false
	}
	if len(s.Platforms) == 0 {
		return s, true
	}
	for _, p := range s.Platforms {
		if p == platform {
			return s, true
		}
	}
	return Skip{}, false
}
