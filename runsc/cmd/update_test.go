package cmd

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true}, {"4k", 4096, true}, {"128m", 128 << 20, true}, {"2G", 2 << 30, true},
		{"64MB", 64 << 20, true}, {"-1", -1, true}, {"0", 0, true},
		{"", 0, false}, {"lots", 0, false}, {"-2", 0, false}, {"-1m", 0, false}, {"1.5g", 0, false},
		{"99999999999g", 0, false}, {"1t", 0, false},
	} {
		got, err := parseBytes(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseBytes(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestResourcesFromFlags(t *testing.T) {
	r := &specs.LinuxResources{}
	err := resourcesFromFlags(r, map[string]string{
		"memory": "64m", "memory-swap": "-1", "cpu-shares": "512", "cpu-quota": "-1",
		"cpuset-cpus": "0-1", "pids-limit": "30", "blkio-weight": "500",
	})
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != -1 || *r.CPU.Shares != 512 || *r.CPU.Quota != -1 ||
		r.CPU.Cpus != "0-1" || *r.Pids.Limit != 30 || *r.BlockIO.Weight != 500 || r.CPU.Period != nil {
		t.Errorf("resources = %+v %+v", r.Memory, r.CPU)
	}
	for _, bad := range []map[string]string{
		{"cpu-shares": "-1"}, {"pids-limit": "x"}, {"blkio-weight": "5"}, {"memory": "1.5"}, {"cpu-period": "1e5"},
	} {
		if err := resourcesFromFlags(&specs.LinuxResources{}, bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestMergeResources(t *testing.T) {
	old := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptrTo[int64](100), Reservation: ptrTo[int64](50)},
		CPU:    &specs.LinuxCPU{Shares: ptrTo[uint64](1024), Cpus: "0"},
		Pids:   &specs.LinuxPids{Limit: ptrTo[int64](10)},
	}
	got := mergeResources(old, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptrTo[int64](200)},
		CPU:    &specs.LinuxCPU{Quota: ptrTo[int64](5000)},
	})
	if *got.Memory.Limit != 200 || *got.Memory.Reservation != 50 || *got.CPU.Shares != 1024 || *got.CPU.Quota != 5000 ||
		got.CPU.Cpus != "0" || *got.Pids.Limit != 10 {
		t.Errorf("merged = %+v %+v %+v", got.Memory, got.CPU, got.Pids)
	}
	if *old.Memory.Limit != 100 || old.CPU.Quota != nil {
		t.Errorf("merge changed the old resources")
	}
	if got := mergeResources(nil, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptrTo[int64](3)}}); *got.Pids.Limit != 3 {
		t.Errorf("merge into nil: %+v", got)
	}
}

func ptrTo[T any](v T) *T { return &v }
