package vdso

// readTSC reads the time stamp counter, ordered after every earlier
// instruction and before every later one (LFENCE; RDTSC; LFENCE), as the
// vDSO's readers read it.
func readTSC() uint64

// cpuid executes the CPUID instruction.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// InvariantTSC reports whether the CPU's TSC runs at a constant rate in
// every P-, C- and T-state (CPUID 0x80000007 EDX bit 8; Linux's
// constant_tsc and nonstop_tsc). Without it the vDSO cannot turn TSC values
// into time, and every call falls back to the system call.
func InvariantTSC() bool {
	maxExt, _, _, _ := cpuid(0x80000000, 0)
	if maxExt < 0x80000007 {
		return false
	}
	_, _, _, edx := cpuid(0x80000007, 0)
	return edx&(1<<8) != 0
}
