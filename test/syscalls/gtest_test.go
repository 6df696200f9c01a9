package syscalls

import "testing"

const sampleText = `Running main() from gtest_main.cc
[==========] Running 5 tests from 2 test suites.
[----------] 3 tests from A
[ RUN      ] A.Pass
[       OK ] A.Pass (0 ms)
[ RUN      ] A.Fail
foo.cc:12: Failure
Expected equality of these values:
[  FAILED  ] A.Fail (1 ms)
[ RUN      ] A.Skip
[  SKIPPED ] A.Skip (0 ms)
[----------] 2 tests from B
[ RUN      ] B.Pass
[       OK ] B.Pass (0 ms)
[ RUN      ] B.Crash
partial output
`

func TestParseText(t *testing.T) {
	res := ParseText([]byte(sampleText))
	want := map[string]Status{
		"A.Pass": Passed, "A.Fail": Failed, "A.Skip": Skipped,
		"B.Pass": Passed, "B.Crash": Crashed,
	}
	if len(res) != len(want) {
		t.Errorf("got %d cases, want %d: %v", len(res), len(want), res)
	}
	for n, s := range want {
		if res[n].Status != s {
			t.Errorf("%s: got %v, want %v", n, res[n].Status, s)
		}
	}
	if res["A.Fail"].Output != "foo.cc:12: Failure\nExpected equality of these values:\n" {
		t.Errorf("A.Fail output: %q", res["A.Fail"].Output)
	}
	if res["B.Crash"].Output != "partial output\n" {
		t.Errorf("B.Crash output: %q", res["B.Crash"].Output)
	}
}

func TestParseTextIgnoresSummary(t *testing.T) {
	out := `[ RUN      ] A.Fail
[  FAILED  ] A.Fail (0 ms)
[==========] 1 test from 1 test suite ran. (0 ms total)
[  PASSED  ] 0 tests.
[  FAILED  ] 1 test, listed below:
[  FAILED  ] A.Fail

 1 FAILED TEST
`
	res := ParseText([]byte(out))
	if len(res) != 1 || res["A.Fail"].Status != Failed {
		t.Errorf("got %v", res)
	}
}

func TestParseJSON(t *testing.T) {
	data := `{"testsuites": [{"name": "A", "testsuite": [
	 {"name": "Pass", "status": "RUN", "result": "COMPLETED"},
	 {"name": "Fail", "status": "RUN", "result": "COMPLETED", "failures": [{"failure": "x"}]},
	 {"name": "Skip", "status": "RUN", "result": "SKIPPED"},
	 {"name": "DISABLED_Off", "status": "NOTRUN", "result": "SUPPRESSED"}]}]}`
	res, err := ParseJSON([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"A.Pass": Passed, "A.Fail": Failed, "A.Skip": Skipped}
	if len(res) != len(want) {
		t.Errorf("got %v", res)
	}
	for n, s := range want {
		if res[n].Status != s {
			t.Errorf("%s: got %v, want %v", n, res[n].Status, s)
		}
	}
	if _, err := ParseJSON([]byte("{")); err == nil {
		t.Error("ParseJSON accepted a truncated report")
	}
}

func TestSkipFor(t *testing.T) {
	old := SandboxSkips
	defer func() { SandboxSkips = old }()
	SandboxSkips = map[string]Skip{
		"a":   {Reason: "r", Issue: "i"},
		"b/X": {Reason: "r", Issue: "i", Platforms: []string{"kvm"}},
	}
	if _, ok := skipFor("a", "ptrace"); !ok {
		t.Error("a not skipped on ptrace")
	}
	if _, ok := skipFor("b/X", "ptrace"); ok {
		t.Error("b/X skipped on ptrace")
	}
	if _, ok := skipFor("b/X", "kvm"); !ok {
		t.Error("b/X not skipped on kvm")
	}
	if _, ok := skipFor("c", "kvm"); ok {
		t.Error("c skipped")
	}
}
