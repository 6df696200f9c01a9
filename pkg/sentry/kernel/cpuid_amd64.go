package kernel

// cpuid executes the CPUID instruction.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// hwcap returns AT_HWCAP for x86-64: CPUID leaf 1's EDX feature bits, as
// Linux reports them.
func hwcap() uint64 {
	_, _, _, edx := cpuid(1, 0)
	return uint64(edx)
}
