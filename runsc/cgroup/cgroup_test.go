package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Hybrid: every controller on v1, v2 mounted with none (this project's CI
// machine).
const (
	hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	hybridCgroup = `9:name=systemd:/
8:pids:/
4:memory:/session/abc
2:cpu,cpuacct:/
0::/
`
	v2Mountinfo = `30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`
	v2Cgroup = "0::/user.slice/me\n"
)

func TestParseMounts(t *testing.T) {
	m, err := parseMounts(strings.NewReader(hybridMountinfo), strings.NewReader(hybridCgroup))
	if err != nil {
		t.Fatal(err)
	}
	if m.UseV2() {
		t.Errorf("hybrid with no v2 controllers: UseV2")
	}
	if h := m.V1["cpuacct"]; h.Mount != "/sys/fs/cgroup/cpu,cpuacct" || len(h.Controllers) != 2 {
		t.Errorf("cpuacct = %+v", h)
	}
	if _, ok := m.V1["name=systemd"]; ok {
		t.Errorf("named hierarchy taken as a controller")
	}
	c, err := m.New("c1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct/c1", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c1",
		"memory": "/sys/fs/cgroup/memory/session/abc/c1", "pids": "/sys/fs/cgroup/pids/c1",
	}
	if len(c.Dirs) != len(want) {
		t.Errorf("dirs = %v, want %v", c.Dirs, want)
	}
	for k, v := range want {
		if c.Dirs[k] != v {
			t.Errorf("dir of %s = %q, want %q", k, c.Dirs[k], v)
		}
	}
	if len(c.dirs()) != 3 {
		t.Errorf("distinct dirs = %v", c.dirs())
	}
	if c, _ := m.New("/abs/c1"); c.Dirs["memory"] != "/sys/fs/cgroup/memory/abs/c1" {
		t.Errorf("absolute path: memory dir %q", c.Dirs["memory"])
	}

	m, err = parseMounts(strings.NewReader(v2Mountinfo), strings.NewReader(v2Cgroup))
	if err != nil {
		t.Fatal(err)
	}
	if !m.UseV2() || m.V2.Own != "/user.slice/me" {
		t.Errorf("pure v2: UseV2 %v, %+v", m.UseV2(), m.V2)
	}
	if c, _ := m.New("c1"); !c.V2 || c.Dir("memory") != "/sys/fs/cgroup/user.slice/me/c1" {
		t.Errorf("v2 cgroup = %+v", c)
	}
}

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		path    string
		systemd bool
		want    string // "" means an error
	}{
		{"", false, "c1"},
		{"/docker/c1", false, "/docker/c1"},
		{"/a/../b", false, "/b"},
		{"libpod/c1", false, "libpod/c1"},
		{"../escape", false, ""},
		{"a/../..", false, ""},
		{"/", false, ""},
		{"", true, "/system.slice/runsc-c1.scope"},
		{"system.slice:docker:abc", true, "/system.slice/docker-abc.scope"},
		{"kubepods-besteffort-pod1.slice:cri:abc", true, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-abc.scope"},
		{":runsc:abc", true, "/system.slice/runsc-abc.scope"},
		{"-.slice:p:abc", true, "/p-abc.scope"},
		{"machine.slice::abc", true, "/machine.slice/abc.scope"},
		{"user.slice:p:sub.slice", true, "/user.slice/sub.slice"},
		{"/plain/path", true, "/plain/path"},
		{"notaslice:p:abc", true, ""},
		{"a--b.slice:p:abc", true, ""},
		{"system.slice:p:", true, ""},
		{"system.slice:p:a/b", true, ""},
		{"a:b", true, ""},
	} {
		got, err := Path(tc.path, tc.systemd, "c1")
		if tc.want == "" {
			if err == nil {
				t.Errorf("Path(%q, %v) = %q, want an error", tc.path, tc.systemd, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Path(%q, %v) = %q, %v; want %q", tc.path, tc.systemd, got, err, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    specs.LinuxResources
		ok   bool
	}{
		{"empty", specs.LinuxResources{}, true},
		{"limits", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20), Swap: ptr[int64](2 << 20)}, Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}, true},
		{"unlimited", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](-1)}}, true},
		{"negative memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-2)}}, false},
		{"swap below limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](2 << 20), Swap: ptr[int64](1 << 20)}}, false},
		{"swappiness", specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr[uint64](101)}}, false},
		{"quota", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](-5)}}, false},
		{"cpus", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1,3"}}, true},
		{"bad cpus", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-"}}, false},
		{"bad mems", specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "x"}}, false},
		{"unified", specs.LinuxResources{Unified: map[string]string{"memory.high": "1M"}}, true},
		{"unified escape", specs.LinuxResources{Unified: map[string]string{"../x.y": "1"}}, false},
		{"net_cls", specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1)}}, false},
		{"empty network", specs.LinuxResources{Network: &specs.LinuxNetwork{}}, true},
	} {
		if err := Validate(&tc.r); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 1024: 39, 262144: 10000, 1 << 30: 10000} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

// fakeDir makes a directory holding empty files with the given names, as
// a cgroup directory holds its control files.
func fakeDir(t *testing.T, files ...string) string {
	d := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(d, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func readAll(t *testing.T, d string) map[string]string {
	out := map[string]string{}
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(d, e.Name()))
		if len(data) > 0 {
			out[e.Name()] = string(data)
		}
	}
	return out
}

func TestApplyV2(t *testing.T) {
	d := fakeDir(t, "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus", "pids.max", "memory.high")
	c := &Cgroup{V2: true, Dirs: map[string]string{v2Key: d}}
	err := c.Apply(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](96 << 20)},
		CPU:     &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Cpus: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](0)},
		Unified: map[string]string{"memory.high": "1000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"memory.max": "67108864", "memory.swap.max": "33554432", "cpu.weight": "39",
		"cpu.max": "50000 100000", "cpuset.cpus": "0", "pids.max": "max", "memory.high": "1000000",
	}
	got := readAll(t, d)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("wrote %v, want %v", got, want)
	}
	// Absent controller: an error naming the file, not a silent skip.
	c = &Cgroup{V2: true, Dirs: map[string]string{v2Key: fakeDir(t)}}
	if err := c.Apply(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}}); err == nil {
		t.Errorf("pids limit without pids.max: no error")
	}
}

func TestApplyV1(t *testing.T) {
	mem := fakeDir(t, "memory.limit_in_bytes", "memory.soft_limit_in_bytes")
	cpu := fakeDir(t, "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us")
	pids := fakeDir(t, "pids.max")
	c := &Cgroup{Dirs: map[string]string{"memory": mem, "cpu": cpu, "cpuacct": cpu, "pids": pids}}
	err := c.Apply(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](32 << 20), Reservation: ptr[int64](16 << 20)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](20000), Period: ptr[uint64](100000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](42)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]map[string]string{
		mem:  {"memory.limit_in_bytes": "33554432", "memory.soft_limit_in_bytes": "16777216"},
		cpu:  {"cpu.shares": "512", "cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000"},
		pids: {"pids.max": "424"}, // 42*HostThreadsPerTask + HostThreadsReserve
	} {
		got := readAll(t, d)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
	}
	if err := c.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr[int64](64 << 20)}}); err == nil || !strings.Contains(err.Error(), "swap accounting") {
		t.Errorf("swap without memsw: %v", err)
	}
	if err := c.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](8 << 20), Swap: ptr[int64](-1)}}); err != nil {
		t.Errorf("unlimited swap without memsw: %v", err)
	}
	if got := readAll(t, mem)["memory.limit_in_bytes"]; got != "8388608" {
		t.Errorf("memory.limit_in_bytes = %q after a limit with unlimited swap", got)
	}
	if err := c.Apply(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); err == nil {
		t.Errorf("unified on v1: no error")
	}
}

// TestRealCgroup creates a cgroup below this process's own, applies
// limits and reads them back from the kernel, then removes it. It needs
// root and a writable cgroup hierarchy.
func TestRealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	m, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.New("runsc-cgroup-test-" + filepath.Base(t.TempDir()))
	if err != nil {
		t.Skip(err)
	}
	if err := c.Create(); err != nil {
		t.Skipf("cannot create cgroups here: %v", err)
	}
	defer func() {
		if err := c.Destroy(); err != nil {
			t.Error(err)
		}
		for _, d := range c.Made {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("%s left behind", d)
			}
		}
	}()
	if c.Dir("pids") == "" || c.Dir("memory") == "" {
		t.Skip("no pids or memory controller")
	}
	if err := c.Apply(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](48 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](17)},
	}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Limit != uint64(HostPidsMax(17)) || st.Memory.Usage.Limit != 48<<20 {
		t.Errorf("stats after apply: pids limit %d, memory limit %d", st.Pids.Limit, st.Memory.Usage.Limit)
	}
	if c.Frozen() {
		t.Errorf("new cgroup is frozen")
	}
	if c.Dir("freezer") != "" || c.V2 {
		if err := c.Freeze(); err != nil || !c.Frozen() {
			t.Errorf("Freeze: %v, frozen %v", err, c.Frozen())
		}
		if err := c.Thaw(); err != nil || c.Frozen() {
			t.Errorf("Thaw: %v, frozen %v", err, c.Frozen())
		}
	}
}

// TestDestroyShared checks that a cgroup still holding a process of
// someone else's (another container given the same cgroupsPath) is left
// in place, at once, and removed by its last user.
func TestDestroyShared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	m, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.New("runsc-cgroup-shared-" + filepath.Base(t.TempDir()))
	if err != nil {
		t.Skip(err)
	}
	if err := c.Create(); err != nil {
		t.Skipf("cannot create cgroups here: %v", err)
	}
	other := exec.Command("sleep", "1000")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()
	if err := c.Add(other.Process.Pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Destroy(); err != nil {
		t.Errorf("Destroy of a shared cgroup: %v", err)
	}
	if d := time.Since(start); d > sharedAfter+time.Second {
		t.Errorf("Destroy of a shared cgroup took %v", d)
	}
	for _, d := range c.dirs() {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("shared cgroup %s removed: %v", d, err)
		}
	}
	other.Process.Kill()
	other.Wait()
	if err := c.Destroy(); err != nil {
		t.Errorf("Destroy by the last user: %v", err)
	}
	for _, d := range c.Made {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
}

// TestRealV2Freeze freezes and thaws a process in a v2 cgroup made below
// this process's own in the unified hierarchy: the freezer is part of v2's
// core, so it works even on a hybrid host whose controllers are on v1.
func TestRealV2Freeze(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	m, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if m.V2 == nil {
		t.Skip("no cgroup v2 hierarchy mounted")
	}
	v2 := *m.V2
	only := &Mounts{V2: &v2}
	c, err := only.New("runsc-cgroup-v2-" + filepath.Base(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if !c.V2 {
		t.Fatalf("cgroup on the unified hierarchy is not v2: %+v", c)
	}
	if err := c.Create(); err != nil {
		t.Skipf("cannot create a v2 cgroup here: %v", err)
	}
	defer func() {
		if err := c.Destroy(); err != nil {
			t.Error(err)
		}
	}()
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if err := c.Add(sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	if !c.Frozen() {
		t.Errorf("not frozen after Freeze")
	}
	if v, _ := keyedValue(c.Dirs[v2Key], "cgroup.events", "frozen"); v != 1 {
		t.Errorf("cgroup.events frozen = %d", v)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	if c.Frozen() {
		t.Errorf("frozen after Thaw")
	}
	if _, err := c.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}
}
