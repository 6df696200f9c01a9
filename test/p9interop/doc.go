// Package p9interop checks Buffer Zone's 9P2000.L code (pkg/p9 and the
// Gofer's server, runsc/fsgofer) against an independent implementation,
// Debian's diod: our client against a diod server on loopback, and diod's
// client tools (diodls, diodcat) against our Gofer server. The tests skip
// with a message when diod is not installed (apt-get install diod). See
// README.md.
package p9interop
