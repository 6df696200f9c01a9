package linux

import "testing"

func TestPageSize(t *testing.T) {
	if 1<<PageShift != PageSize {
		t.Fatalf("1<<PageShift = %d, want %d", 1<<PageShift, PageSize)
	}
	if ELFETDynBase%PageSize != 0 {
		t.Fatalf("ELFETDynBase %#x not page aligned", ELFETDynBase)
	}
}
