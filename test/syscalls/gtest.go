package syscalls

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Status is the outcome of one gtest case.
type Status int

// The outcomes of a gtest case. Crashed means the case started and the
// program ended (or hung) before it finished; Missing means it never ran.
const (
	Missing Status = iota
	Passed
	Failed
	Skipped
	Crashed
)

func (s Status) String() string {
	switch s {
	case Passed:
		return "PASSED"
	case Failed:
		return "FAILED"
	case Skipped:
		return "SKIPPED"
	case Crashed:
		return "CRASHED"
	}
	return "MISSING"
}

// Case is the result of one gtest case, named "Suite.Name".
type Case struct {
	Name   string
	Status Status
	// Output is what the program printed while the case ran, for failure
	// messages (empty for results parsed from JSON).
	Output string
}

// Results maps case names to their results.
type Results map[string]Case

// Names returns the case names in sorted order.
func (r Results) Names() []string {
	n := make([]string, 0, len(r))
	for k := range r {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// ParseText reads gtest's plain-text report (what it prints to stdout with
// --gtest_color=no). A case with a "[ RUN      ]" line but no closing
// OK/FAILED/SKIPPED line is Crashed. The sandbox runs use this parser, since
// a read-only root leaves nowhere to write a JSON report.
func ParseText(out []byte) Results {
	res := Results{}
	var cur string
	var buf strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		tag, name, ok := splitTag(line)
		if !ok {
			if cur != "" {
				buf.WriteString(line + "\n")
			}
			continue
		}
		switch tag {
		case "RUN":
			if cur != "" {
				res[cur] = Case{Name: cur, Status: Crashed, Output: buf.String()}
			}
			cur = name
			buf.Reset()
		case "OK", "FAILED", "SKIPPED":
			if name != cur || cur == "" {
				continue // summary lines after the run
			}
			st := map[string]Status{"OK": Passed, "FAILED": Failed, "SKIPPED": Skipped}[tag]
			res[cur] = Case{Name: cur, Status: st, Output: buf.String()}
			cur = ""
			buf.Reset()
		}
	}
	if cur != "" {
		res[cur] = Case{Name: cur, Status: Crashed, Output: buf.String()}
	}
	return res
}

// splitTag splits "[  FAILED  ] Suite.Name (3 ms)" into "FAILED" and
// "Suite.Name".
func splitTag(line string) (tag, name string, ok bool) {
	if !strings.HasPrefix(line, "[") {
		return "", "", false
	}
	end := strings.Index(line, "]")
	if end < 0 {
		return "", "", false
	}
	tag = strings.TrimSpace(line[1:end])
	rest := strings.TrimSpace(line[end+1:])
	if i := strings.Index(rest, " ("); i >= 0 {
		rest = rest[:i]
	}
	if strings.ContainsAny(rest, " ,") || !strings.Contains(rest, ".") {
		return "", "", false // "1 test, listed below:" and the like
	}
	return tag, rest, true
}

// ParseJSON reads the report gtest writes with --gtest_output=json:FILE.
// Disabled cases (status NOTRUN) are left out.
func ParseJSON(data []byte) (Results, error) {
	var rep struct {
		Testsuites []struct {
			Name      string `json:"name"`
			Testsuite []struct {
				Name     string            `json:"name"`
				Status   string            `json:"status"`
				Result   string            `json:"result"`
				Failures []json.RawMessage `json:"failures"`
			} `json:"testsuite"`
		} `json:"testsuites"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("parsing gtest JSON report: %v", err)
	}
	res := Results{}
	for _, s := range rep.Testsuites {
		for _, c := range s.Testsuite {
			if c.Status == "NOTRUN" {
				continue
			}
			name := s.Name + "." + c.Name
			st := Passed
			switch {
			case len(c.Failures) > 0:
				st = Failed
			case c.Result == "SKIPPED":
				st = Skipped
			case c.Result != "COMPLETED":
				st = Crashed
			}
			res[name] = Case{Name: name, Status: st}
		}
	}
	return res, nil
}
