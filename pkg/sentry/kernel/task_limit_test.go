package kernel

import "testing"

// TestTaskLimit checks the count at which clone's thread ID allocation
// refuses (SetTaskLimit): at the limit and not below it, never without
// one, and again once a task is gone.
func TestTaskLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		held  int
		want  bool
	}{
		{"no limit", 0, 100, true},
		{"negative is no limit", -1, 100, true},
		{"below", 3, 2, true},
		{"at", 3, 3, false},
		{"above (lowered under the count)", 2, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Kernel{tasks: make(map[int32]*Task), nextTID: 1}
			for i := 0; i < tc.held; i++ {
				k.allocTID(&Task{})
			}
			k.SetTaskLimit(tc.limit)
			tid, ok := k.allocCloneTID(&Task{})
			if ok != tc.want {
				t.Fatalf("allocCloneTID with %d tasks, limit %d: ok = %v, want %v", tc.held, tc.limit, ok, tc.want)
			}
			if !ok {
				if len(k.tasks) != tc.held {
					t.Errorf("a refused clone left %d tasks, want %d", len(k.tasks), tc.held)
				}
				delete(k.tasks, 1)
				if _, ok := k.allocCloneTID(&Task{}); ok != (int64(tc.held) <= tc.limit) {
					t.Errorf("after a task is gone: ok = %v", ok)
				}
				return
			}
			if k.tasks[tid] == nil {
				t.Errorf("tid %d not recorded", tid)
			}
		})
	}
}
