package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/cgroup"
	"bufferzone.dev/test/e2e/runsctest"
)

// The OCI runtime as engines drive it beyond the basic lifecycle: the
// global flags containerd and Docker pass, cgroup limits, pause/resume,
// events and update.

// engineFlags are the global flags containerd's and Docker's runc shim
// put before every command.
func engineFlags(log string) []string {
	return []string{"--log", log, "--log-format", "json", "--debug", "--systemd-cgroup"}
}

// createWithOutput creates container id with its stdout and stderr going
// to a file, whose path it returns.
func (e *ociEnv) createWithOutput(id string, global ...string) string {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), id+".out")
	f, err := os.Create(out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.cmd(ctx, append(global, "create", "--bundle", e.bundle, id)...)
	c.Stdout, c.Stderr = f, f
	if err := c.Run(); err != nil {
		data, _ := os.ReadFile(out)
		e.t.Fatalf("create %s: %v: %s", id, err, data)
	}
	return out
}

func TestOCIGlobalFlags(t *testing.T) {
	e := newOCIEnv(t, "/bin/sleep", "1000")
	log := filepath.Join(t.TempDir(), "log.json")
	g := engineFlags(log)
	// A cgroupsPath in systemd's form, as Docker passes with
	// --systemd-cgroup.
	e.editSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = "runsc-e2e.slice:test:g1" })
	e.createWithOutput("g1", g...)
	e.mustRun(append(g, "start", "g1")...)
	if out := e.mustRun(append(g, "exec", "g1", "/bin/echo", "hi")...); out != "hi\n" {
		t.Errorf("exec: %q", out)
	}
	e.mustRun(append(g, "ps", "--format", "json", "g1")...)
	if st := e.state("g1"); st.Status != specs.StateRunning {
		t.Errorf("status %s", st.Status)
	}
	sandboxPID := e.state("g1").Pid
	if p := cgroupOf(t, sandboxPID, "pids"); p != "/runsc.slice/runsc-e2e.slice/test-g1.scope" {
		t.Errorf("sandbox's cgroup with --systemd-cgroup is %q, want /runsc.slice/runsc-e2e.slice/test-g1.scope", p)
	}
	slice := filepath.Dir(filepath.Dir(cgroupDir(t, sandboxPID, "pids")))
	e.mustRun(append(g, "kill", "g1", "9")...)
	e.waitStatus("g1", specs.StateStopped)
	e.mustRun(append(g, "delete", "--force", "g1")...)
	if _, err := os.Stat(slice); err == nil {
		t.Errorf("the slices' cgroups (%s) were left behind", slice)
	}

	// A failing command: one line on stderr, and the same error as JSON
	// in the log, where the shim looks for it.
	out, code := e.run(append(g, "start", "nonexistent")...)
	if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("start of a missing container: exit %d, %q", code, out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last struct{ Level, Msg, Time string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Level != "error" || !strings.Contains(last.Msg, "nonexistent") {
		t.Errorf("last log line %q: %+v, %v", lines[len(lines)-1], last, err)
	}
	// --debug logged each command.
	if !strings.Contains(string(data), `"level":"debug","msg":"runsc --root=`+e.root+` --log `+log) || !strings.Contains(string(data), `--systemd-cgroup create --bundle`) {
		t.Errorf("--debug did not log the commands: %s", data)
	}
}

func TestOCIVersions(t *testing.T) {
	e := newOCIEnv(t, "/bin/true")
	for _, v := range []string{"1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0"} {
		e.editSpec(func(s *specs.Spec) { s.Version = v })
		if out, code := e.run("run", "--bundle", e.bundle, "v"); code != 0 {
			t.Errorf("ociVersion %s: exit %d: %s", v, code, out)
		}
	}
	for _, v := range []string{"2.0.0", "1.x", "0.9.0", ""} {
		e.editSpec(func(s *specs.Spec) { s.Version = v })
		out, code := e.run("run", "--bundle", e.bundle, "v")
		if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "ociVersion") {
			t.Errorf("ociVersion %q: exit %d, %q; want one line about ociVersion", v, code, out)
		}
		if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
			t.Errorf("ociVersion %q: state left behind: %v", v, ents)
		}
	}
}

// cgroupOf returns process pid's cgroup path in the hierarchy holding
// controller (v1), or its v2 path if no v1 hierarchy has it.
func cgroupOf(t *testing.T, pid int, controller string) string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v2 := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			v2 = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return parts[2]
			}
		}
	}
	return v2
}

// cgroupDir returns the directory of process pid's cgroup for controller,
// skipping the test when that controller is not mounted.
func cgroupDir(t *testing.T, pid int, controller string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	p := cgroupOf(t, pid, controller)
	for _, line := range strings.Split(string(data), "\n") {
		_, right, ok := strings.Cut(line, " - ")
		lf, rf := strings.Fields(line), strings.Fields(right)
		if !ok || len(lf) < 5 || len(rf) < 3 {
			continue
		}
		switch rf[0] {
		case "cgroup":
			for _, o := range strings.Split(rf[2], ",") {
				if o == controller {
					return filepath.Join(lf[4], p)
				}
			}
		case "cgroup2":
			if ctrls, err := os.ReadFile(filepath.Join(lf[4], "cgroup.controllers")); err == nil && strings.Contains(string(ctrls), controller) {
				return filepath.Join(lf[4], p)
			}
		}
	}
	t.Skipf("no %s cgroup controller mounted", controller)
	return ""
}

// readCgroupFile reads one value from a cgroup file; for a keyed file
// ("key value" lines) give key.
func readCgroupFile(t *testing.T, dir, file, key string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if key == "" {
		return strings.TrimSpace(string(data))
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v
		}
	}
	t.Fatalf("%s has no %s: %q", file, key, data)
	return ""
}

// firstFile returns the first of names that exists in dir (v1 and v2
// name the same knob differently).
func firstFile(dir string, names ...string) string {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return n
		}
	}
	return names[0]
}

// ociRoot skips tests that need root: cgroups and isolation.
func ociRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// runToEnd creates and starts id, waits until it stops, and returns its
// output and the directory of its cgroup for controller (still there:
// the container is not deleted).
func (e *ociEnv) runToEnd(id, controller string, check func(dir string)) (string, string) {
	e.t.Helper()
	out := e.createWithOutput(id)
	dir := cgroupDir(e.t, e.state(id).Pid, controller)
	check(dir)
	e.mustRun("start", id)
	e.waitStatus(id, specs.StateStopped)
	data, _ := os.ReadFile(out)
	return string(data), dir
}

func TestOCICgroupLimits(t *testing.T) {
	ociRoot(t)
	e := newOCIEnv(t, "/bin/true")
	// A /dev/shm big enough to hold more than the memory limit.
	e.editSpec(func(s *specs.Spec) {
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				s.Mounts[i].Options = []string{"nosuid", "nodev", "mode=1777", "size=512m"}
			}
		}
	})
	const fill = "dd if=/dev/zero of=/dev/shm/x bs=1M count=200 2>/dev/null && echo filled"
	// The fork loop runs as PID 1's only child-maker: under a limit of 40
	// tasks it gets EAGAIN (not a dead sandbox) once it has 39 children.
	forkLoop := staticCProgram(t, "forkloop", "forkloop.c")
	data, err := os.ReadFile(forkLoop)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "rootfs", "bin", "forkloop"), data, 0o755); err != nil {
		t.Fatal(err)
	}

	// Each limit must bite: the program that succeeds without it (the
	// control run) fails under it, and the cgroup shows the limit.
	for _, tc := range []struct {
		name, controller, file, want, argv, done string
		res                                      *specs.LinuxResources
		// limited, if set, is the whole output under the limit.
		limited string
		after   func(dir string)
	}{
		{
			name: "memory", controller: "memory", file: "memory.limit_in_bytes|memory.max", want: "67108864",
			argv: fill, done: "filled",
			res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}},
			after: func(dir string) {
				if readCgroupFile(t, dir, firstFile(dir, "memory.oom_control", "memory.events"), "oom_kill") == "0" {
					t.Errorf("memory: no OOM kill recorded in the cgroup")
				}
			},
		},
		{
			// The Sentry enforces the limit on its tasks; the cgroup has
			// room above it for the sandbox's own host threads, and the
			// host's limit never bites (pids.events counts its refusals).
			name: "pids", controller: "pids", file: "pids.max",
			want: strconv.FormatInt(cgroup.HostPidsMax(40), 10),
			argv: "/bin/forkloop", done: "forked 100",
			limited: "fork failed: EAGAIN after 39 children\n",
			res:     &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](40)}},
			after: func(dir string) {
				if got := readCgroupFile(t, dir, "pids.events", "max"); got != "0" {
					t.Errorf("pids: the host's pids.max refused %s forks of the sandbox", got)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.editSpec(func(s *specs.Spec) {
				s.Process.Args = []string{"/bin/sh", "-c", tc.argv}
				s.Linux.CgroupsPath = "runsc-e2e/" + tc.name
				s.Linux.Resources = tc.res
			})
			out, dir := e.runToEnd(tc.name, tc.controller, func(dir string) {
				if got := readCgroupFile(t, dir, firstFile(dir, strings.Split(tc.file, "|")...), ""); got != tc.want {
					t.Errorf("%s = %s, want %s", tc.file, got, tc.want)
				}
			})
			if strings.Contains(out, tc.done) {
				t.Errorf("the limit did not bite: %q", out)
			}
			if tc.limited != "" && out != tc.limited {
				t.Errorf("under the limit: output %q, want %q", out, tc.limited)
			}
			if tc.after != nil {
				tc.after(dir)
			}
			e.mustRun("delete", tc.name)
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("cgroup %s left after delete", dir)
			}
			e.editSpec(func(s *specs.Spec) { s.Linux.Resources = nil })
			if out, code := e.run("run", "--bundle", e.bundle, tc.name+"-control"); code != 0 || out != tc.done+"\n" {
				t.Errorf("without the limit: exit %d, %q", code, out)
			}
		})
	}
	t.Run("cpu", func(t *testing.T) {
		e.editSpec(func(s *specs.Spec) {
			s.Process.Args = []string{"/bin/sleep", "1000"}
			s.Linux.CgroupsPath = "runsc-e2e/cpu"
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{
				Shares: ptr[uint64](512), Quota: ptr[int64](25000), Period: ptr[uint64](100000), Cpus: "0"}}
		})
		e.createWithOutput("cpu")
		pid := e.state("cpu").Pid
		cpu, cpuset := cgroupDir(t, pid, "cpu"), cgroupDir(t, pid, "cpuset")
		if _, err := os.Stat(filepath.Join(cpu, "cpu.shares")); err == nil {
			for file, want := range map[string]string{"cpu.shares": "512", "cpu.cfs_quota_us": "25000", "cpu.cfs_period_us": "100000"} {
				if got := readCgroupFile(t, cpu, file, ""); got != want {
					t.Errorf("%s = %s, want %s", file, got, want)
				}
			}
		} else if got := readCgroupFile(t, cpu, "cpu.max", ""); got != "25000 100000" {
			t.Errorf("cpu.max = %s", got)
		}
		if got := readCgroupFile(t, cpuset, "cpuset.cpus", ""); got != "0" {
			t.Errorf("cpuset.cpus = %s, want 0", got)
		}
		e.mustRun("delete", "--force", "cpu")
	})
	t.Run("ignore-cgroups", func(t *testing.T) {
		e.editSpec(func(s *specs.Spec) {
			s.Linux.CgroupsPath = "runsc-e2e/ignored"
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}}
		})
		e.createWithOutput("ign", "--ignore-cgroups")
		if p := cgroupOf(t, e.state("ign").Pid, "pids"); strings.Contains(p, "runsc-e2e") {
			t.Errorf("--ignore-cgroups: sandbox in %s", p)
		}
		e.mustRun("delete", "--force", "ign")
	})
	t.Run("bad-resources", func(t *testing.T) {
		for name, r := range map[string]*specs.LinuxResources{
			"negative":   {Memory: &specs.LinuxMemory{Limit: ptr[int64](-5)}},
			"swap-below": {Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](1 << 20)}},
			"cpus":       {CPU: &specs.LinuxCPU{Cpus: "0-"}},
			"cpus-range": {CPU: &specs.LinuxCPU{Cpus: "999"}},
		} {
			e.editSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = "runsc-e2e/bad"; s.Linux.Resources = r })
			out, code := e.run("create", "--bundle", e.bundle, "bad")
			if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("%s: exit %d, %q; want one error line", name, code, out)
			}
			if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
				t.Errorf("%s: state left behind: %v", name, ents)
			}
		}
		e.editSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = "../../escape"; s.Linux.Resources = nil })
		if out, code := e.run("create", "--bundle", e.bundle, "bad"); code == 0 || !strings.Contains(out, "cgroupsPath") {
			t.Errorf("cgroupsPath escaping runsc's cgroup: exit %d, %q", code, out)
		}
	})
	// Every cgroup the subtests made is gone, parents included.
	self := cgroupDir(t, os.Getpid(), "pids")
	if _, err := os.Stat(filepath.Join(self, "runsc-e2e")); err == nil {
		t.Errorf("%s left behind", filepath.Join(self, "runsc-e2e"))
	}
}

func ptr[T any](v T) *T { return &v }

func TestOCIPauseResume(t *testing.T) {
	ociRoot(t)
	e := newOCIEnv(t, "/bin/sh", "-c", "while :; do :; done")
	e.editSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = "runsc-e2e/pause" })
	e.mustRun("run", "--detach", "--bundle", e.bundle, "p1")
	freezer := cgroupDir(t, e.state("p1").Pid, "freezer")
	frozen := func() string {
		if _, err := os.Stat(filepath.Join(freezer, "freezer.state")); err == nil {
			return readCgroupFile(t, freezer, "freezer.state", "")
		}
		return map[string]string{"1": "FROZEN", "0": "THAWED"}[readCgroupFile(t, freezer, "cgroup.events", "frozen")]
	}
	if out, code := e.run("resume", "p1"); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("resume of a running container: exit %d, %q", code, out)
	}

	e.mustRun("pause", "p1")
	if st := e.state("p1"); st.Status != "paused" || st.Pid == 0 {
		t.Errorf("state after pause: %+v", st)
	}
	if got := frozen(); got != "FROZEN" {
		t.Errorf("freezer after pause: %s", got)
	}
	// Every host task of the sandbox is in the refrigerator.
	procs := readCgroupFile(t, freezer, "cgroup.procs", "")
	for _, pid := range strings.Fields(procs) {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); f[0] != "D" {
			t.Errorf("task %s of the paused sandbox is in state %s, want D (frozen)", pid, f[0])
		}
	}
	var list []map[string]any
	json.Unmarshal([]byte(e.mustRun("list", "--format", "json")), &list)
	if len(list) != 1 || list[0]["status"] != "paused" {
		t.Errorf("list while paused: %v", list)
	}
	for _, args := range [][]string{{"exec", "p1", "/bin/true"}, {"pause", "p1"}, {"delete", "p1"}, {"kill", "p1", "TERM"}} {
		if out, code := e.run(args...); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v while paused: exit %d, %q; want one error line", args, code, out)
		}
	}

	e.mustRun("resume", "p1")
	if st := e.state("p1"); st.Status != specs.StateRunning {
		t.Errorf("state after resume: %s", st.Status)
	}
	if got := frozen(); got != "THAWED" {
		t.Errorf("freezer after resume: %s", got)
	}
	if out := e.mustRun("exec", "p1", "/bin/echo", "back"); out != "back\n" {
		t.Errorf("exec after resume: %q", out)
	}

	// A paused container still dies of SIGKILL and deletes cleanly.
	e.mustRun("pause", "p1")
	e.mustRun("kill", "p1", "KILL")
	e.waitStatus("p1", specs.StateStopped)
	e.mustRun("delete", "p1")
	if _, err := os.Stat(freezer); err == nil {
		t.Errorf("cgroup %s left after delete", freezer)
	}

	// Without a cgroup there is nothing to freeze: one clear line.
	e.createWithOutput("p2", "--ignore-cgroups")
	e.mustRun("start", "p2")
	if out, code := e.run("pause", "p2"); code == 0 || !strings.Contains(out, "cgroup") {
		t.Errorf("pause without a cgroup: exit %d, %q", code, out)
	}
	e.mustRun("delete", "--force", "p2")
}

// statsEvent is a line of `runsc events`, as far as the tests read it.
type statsEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data struct {
		CPU struct {
			Usage struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Limit uint64 `json:"limit"`
				Usage uint64 `json:"usage"`
			} `json:"usage"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
		Sandbox struct {
			Processes int    `json:"processes"`
			Memory    uint64 `json:"memory"`
		} `json:"sandbox"`
	} `json:"data"`
}

func (e *ociEnv) stats(id string) statsEvent {
	e.t.Helper()
	out := e.mustRun("events", "--stats", id)
	var ev statsEvent
	if err := json.Unmarshal([]byte(out), &ev); err != nil || strings.Count(out, "\n") != 1 {
		e.t.Fatalf("events --stats: %v: %q", err, out)
	}
	return ev
}

func TestOCIEvents(t *testing.T) {
	ociRoot(t)
	e := newOCIEnv(t, "/bin/sleep", "1000")
	e.editSpec(func(s *specs.Spec) {
		s.Linux.CgroupsPath = "runsc-e2e/events"
		s.Linux.Resources = &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: ptr[int64](96 << 20)},
			Pids:   &specs.LinuxPids{Limit: ptr[int64](200)},
		}
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				s.Mounts[i].Options = []string{"nosuid", "nodev", "mode=1777", "size=512m"}
			}
		}
	})
	e.mustRun("run", "--detach", "--bundle", e.bundle, "ev")
	ev := e.stats("ev")
	if ev.Type != "stats" || ev.ID != "ev" || ev.Data.Memory.Usage.Limit != 96<<20 || ev.Data.Pids.Limit != uint64(cgroup.HostPidsMax(200)) ||
		ev.Data.Pids.Current == 0 || ev.Data.CPU.Usage.Total == 0 || ev.Data.Memory.Usage.Usage == 0 || ev.Data.Sandbox.Processes != 1 {
		t.Errorf("stats event: %+v", ev)
	}
	if out, code := e.run("events", "--stats", "nope"); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("events of a missing container: exit %d, %q", code, out)
	}

	// The stream: stats every interval, an oom event when the OOM killer
	// strikes, and the end when the container stops.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.cmd(ctx, "events", "--interval", "50ms", "ev")
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	next := func() statsEvent {
		if !sc.Scan() {
			t.Fatalf("events ended early: %v", sc.Err())
		}
		var ev statsEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		return ev
	}
	for i := 0; i < 2; i++ {
		if ev := next(); ev.Type != "stats" {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	// Fill /dev/shm past the memory limit.
	e.run("exec", "ev", "/bin/sh", "-c", "dd if=/dev/zero of=/dev/shm/x bs=1M count=200")
	sawOOM := false
	for sc.Scan() {
		var ev statsEvent
		json.Unmarshal(sc.Bytes(), &ev)
		sawOOM = sawOOM || ev.Type == "oom"
	}
	if err := c.Wait(); err != nil {
		t.Errorf("events: %v", err)
	}
	if !sawOOM {
		t.Errorf("no oom event")
	}
	e.mustRun("delete", "--force", "ev")
}

func TestOCIUpdate(t *testing.T) {
	ociRoot(t)
	e := newOCIEnv(t, "/bin/sleep", "1000")
	e.editSpec(func(s *specs.Spec) {
		s.Linux.CgroupsPath = "runsc-e2e/update"
		s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](100)}}
	})
	e.mustRun("run", "--detach", "--bundle", e.bundle, "u1")
	pid := e.state("u1").Pid
	pids, mem, cpu := cgroupDir(t, pid, "pids"), cgroupDir(t, pid, "memory"), cgroupDir(t, pid, "cpu")

	e.mustRun("update", "--memory", "128m", "--pids-limit", "50", "u1")
	if got := readCgroupFile(t, pids, "pids.max", ""); got != strconv.FormatInt(cgroup.HostPidsMax(50), 10) {
		t.Errorf("pids.max after update = %s", got)
	}
	if got := readCgroupFile(t, mem, firstFile(mem, "memory.limit_in_bytes", "memory.max"), ""); got != "134217728" {
		t.Errorf("memory limit after update = %s", got)
	}
	r := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(r, []byte(`{"cpu":{"shares":300,"quota":30000,"period":100000},"pids":{"limit":70}}`), 0o644)
	e.mustRun("update", "-r", r, "u1")
	if got := readCgroupFile(t, pids, "pids.max", ""); got != strconv.FormatInt(cgroup.HostPidsMax(70), 10) {
		t.Errorf("pids.max after update -r = %s", got)
	}
	if _, err := os.Stat(filepath.Join(cpu, "cpu.shares")); err == nil {
		if got := readCgroupFile(t, cpu, "cpu.cfs_quota_us", ""); got != "30000" {
			t.Errorf("cpu.cfs_quota_us after update -r = %s", got)
		}
	}
	// The memory limit set before is kept, and events see the new limits.
	if ev := e.stats("u1"); ev.Data.Pids.Limit != uint64(cgroup.HostPidsMax(70)) || ev.Data.Memory.Usage.Limit != 128<<20 {
		t.Errorf("stats after update: %+v", ev.Data)
	}
	for _, args := range [][]string{
		{"update", "--memory", "lots", "u1"},
		{"update", "--pids-limit", "1.5", "u1"},
		{"update", "--cpuset-cpus", "0-", "u1"},
		{"update", "--memory", "64m", "--memory-swap", "1m", "u1"},
		{"update", "-r", "/nonexistent", "u1"},
		{"update", "--memory", "64m", "nope"},
	} {
		if out, code := e.run(args...); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want one error line", args, code, out)
		}
	}
	if got := readCgroupFile(t, pids, "pids.max", ""); got != strconv.FormatInt(cgroup.HostPidsMax(70), 10) {
		t.Errorf("pids.max changed by failed updates: %s", got)
	}
	e.mustRun("delete", "--force", "u1")
}

func TestInstallDockerRuntime(t *testing.T) {
	runsc := runsctest.Binary(t)
	conf := filepath.Join(t.TempDir(), "docker", "daemon.json")
	os.MkdirAll(filepath.Dir(conf), 0o755)
	os.WriteFile(conf, []byte(`{"storage-driver":"vfs","bridge":"none"}`), 0o644)
	run := func(args ...string) string {
		out, err := exec.Command(runsc, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("runsc %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	run("install", "--config-file", conf, "--runtime", "bz", "--", "--platform=ptrace", "--strace")
	var got struct {
		Storage  string `json:"storage-driver"`
		Bridge   string `json:"bridge"`
		Runtimes map[string]struct {
			Path        string   `json:"path"`
			RuntimeArgs []string `json:"runtimeArgs"`
		} `json:"runtimes"`
	}
	data, _ := os.ReadFile(conf)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(runsc)
	if rt := got.Runtimes["bz"]; got.Storage != "vfs" || got.Bridge != "none" || rt.Path != abs ||
		strings.Join(rt.RuntimeArgs, " ") != "--platform=ptrace --strace" {
		t.Errorf("daemon.json after install: %s", data)
	}
	run("uninstall", "--config-file", conf, "--runtime", "bz")
	if data, _ := os.ReadFile(conf); strings.Contains(string(data), "runtimes") || !strings.Contains(string(data), "vfs") {
		t.Errorf("daemon.json after uninstall: %s", data)
	}
	if out, err := exec.Command(runsc, "uninstall", "--config-file", conf, "--runtime", "bz").CombinedOutput(); err == nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("uninstall of a missing runtime: %v, %q", err, out)
	}
}

// nobody is the unprivileged user the rootless test runs runsc as.
const nobody = 65534

// asNobody returns runsc run as user and group nobody with --rootless
// and args; root must be nobody's.
func asNobody(ctx context.Context, runsc, root string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, runsc, append([]string{"--rootless", "--root=" + root}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	c.Env = []string{"PATH=/usr/bin:/bin"}
	return c
}

func TestOCIRootless(t *testing.T) {
	ociRoot(t) // to become nobody
	if n, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(n)) == "0" {
		t.Skip("user namespaces are disabled on this host")
	}
	e := newOCIEnv(t, "/bin/sh", "-c", "echo uid=$(cat /proc/self/status | grep ^Uid)")
	// Everything nobody needs must be reachable by it: the bundle, a copy
	// of runsc, and a state root of its own.
	top := filepath.Dir(e.bundle)
	runsc := filepath.Join(top, "runsc")
	data, err := os.ReadFile(e.runsc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(runsc, data, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(top, "nobody-root")
	os.Mkdir(root, 0o700)
	os.Chown(root, nobody, nobody)
	filepath.Walk(top, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != root {
			os.Chmod(p, info.Mode().Perm()|0o005|(info.Mode().Perm()&0o100)>>6)
		}
		return nil
	})
	os.Remove(filepath.Join(e.bundle, "config.json"))
	os.Chown(e.bundle, nobody, nobody)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Output goes to a file, never a pipe: a detached sandbox keeps the
	// stdio of the command that created it.
	outFile := filepath.Join(t.TempDir(), "out")
	run := func(args ...string) (string, error) {
		f, err := os.Create(outFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c := asNobody(ctx, runsc, root, args...)
		c.Dir, c.Stdout, c.Stderr = e.bundle, f, f
		err = c.Run()
		data, _ := os.ReadFile(outFile)
		return string(data), err
	}
	if out, err := run("spec", "--rootless", "--", "/bin/sh", "-c", "grep ^Uid /proc/self/status"); err != nil {
		t.Fatalf("spec --rootless as nobody: %v: %s", err, out)
	}
	var spec specs.Spec
	data, _ = os.ReadFile(filepath.Join(e.bundle, "config.json"))
	json.Unmarshal(data, &spec)
	if len(spec.Linux.UIDMappings) != 1 || spec.Linux.UIDMappings[0].HostID != nobody || spec.Linux.UIDMappings[0].ContainerID != 0 {
		t.Errorf("spec --rootless uidMappings = %+v", spec.Linux.UIDMappings)
	}
	e.editSpec(func(s *specs.Spec) { s.Process.Terminal = false })

	out, err := run("run", "r1")
	if err != nil || !strings.HasPrefix(out, "Uid:\t0\t0\t0\t0") {
		t.Errorf("rootless run: %v: %q; want root in the container", err, out)
	}

	e.editSpec(func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "1000"} })
	if out, err := run("run", "--detach", "r2"); err != nil {
		t.Fatalf("rootless run --detach: %v: %s", err, out)
	}
	out, _ = run("state", "r2")
	var st specs.State
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Status != specs.StateRunning {
		t.Fatalf("state: %v: %q", err, out)
	}
	// The Sentry runs as nobody on the host, root only in a user
	// namespace of its own, with nothing of the host's file system, no
	// capabilities and no_new_privs.
	uidMap, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", st.Pid))
	if f := strings.Fields(string(uidMap)); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(nobody) || f[2] != "1" {
		t.Errorf("sentry's uid_map = %q, want 0 %d 1", uidMap, nobody)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("sentry's status lacks %q", want)
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/root", st.Pid)); err != nil || len(ents) != 0 {
		t.Errorf("sentry's root holds %v (%v), want nothing", ents, err)
	}
	if out, err := run("exec", "r2", "/bin/echo", "in"); err != nil || out != "in\n" {
		t.Errorf("rootless exec: %v: %q", err, out)
	}
	// No cgroup: events report the Sentry's own counts.
	out, err = run("events", "--stats", "r2")
	var ev statsEvent
	if err != nil || json.Unmarshal([]byte(out), &ev) != nil || ev.Data.Sandbox.Processes != 1 || ev.Data.Pids.Current == 0 || ev.Data.Memory.Usage.Usage == 0 {
		t.Errorf("rootless events --stats: %v: %q", err, out)
	}
	if out, err := run("pause", "r2"); err == nil || !strings.Contains(out, "cgroup") {
		t.Errorf("rootless pause without a cgroup: %v, %q", err, out)
	}
	if out, err := run("delete", "--force", "r2"); err != nil {
		t.Errorf("rootless delete: %v: %s", err, out)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("state left behind: %v", ents)
	}
	// Limits need a cgroup nobody cannot make: one clear line.
	e.editSpec(func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}
	})
	if out, err := run("create", "r3"); err == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("rootless create with limits: %v, %q; want one error line", err, out)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("state left behind: %v", ents)
	}
}

// TestOCIRuncCreateFlags checks runc's create and run flags that engines
// may add: accepted where they change nothing for a sandbox, refused in
// one line where runsc cannot do what they ask.
func TestOCIRuncCreateFlags(t *testing.T) {
	e := newOCIEnv(t, "/bin/true")
	if out, code := e.run("run", "--no-pivot", "--no-new-keyring", "--preserve-fds", "0", "--bundle", e.bundle, "f1"); code != 0 {
		t.Errorf("run --no-pivot --no-new-keyring: exit %d: %s", code, out)
	}
	for _, cmd := range []string{"run", "create"} {
		out, code := e.run(cmd, "--preserve-fds", "1", "--bundle", e.bundle, "f2")
		if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "preserve-fds") {
			t.Errorf("%s --preserve-fds 1: exit %d, %q; want one line about it", cmd, code, out)
		}
		if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
			t.Errorf("%s: state left behind: %v", cmd, ents)
		}
	}
}
