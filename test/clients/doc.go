// Package clients drives runsc with the container engines people use:
// Podman (through conmon), containerd (`ctr` and the runc v2 shim), Docker
// (dockerd with a "runtimes" entry), and the OCI conformance suite of
// github.com/opencontainers/runtime-tools, which also runs against runc on
// the same machine for comparison. See README.md.
//
// Every engine runs with its configuration, storage, state and sockets in
// a temporary directory, with runsc behind a wrapper script that logs each
// invocation's argv; the tests check both the engine's view (output, exit
// status) and which runsc commands it called. A test skips, with the
// reason, where the machine lacks the engine or root.
package clients
