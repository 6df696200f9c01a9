package mm

import "github.com/google/btree"

// splitter is implemented by values stored in a rangeSet: split returns the
// value describing the part of a segment that starts delta bytes into it.
type splitter[T any] interface {
	split(delta uintptr) T
}

// seg is one segment [start, end) of a rangeSet with its value. end and val
// may be changed in place; start is the key and may only change by removing
// and reinserting the segment.
type seg[T any] struct {
	start, end uintptr
	val        T
}

// rangeSet is a set of non-overlapping segments ordered by start. It is not
// synchronised; its owner's lock protects it.
type rangeSet[T splitter[T]] struct {
	t *btree.BTreeG[*seg[T]]
}

func newRangeSet[T splitter[T]]() rangeSet[T] {
	return rangeSet[T]{t: btree.NewG(16, func(a, b *seg[T]) bool { return a.start < b.start })}
}

// len returns the number of segments.
func (s *rangeSet[T]) len() int { return s.t.Len() }

// find returns the segment containing addr, or nil.
func (s *rangeSet[T]) find(addr uintptr) *seg[T] {
	var r *seg[T]
	s.t.DescendLessOrEqual(&seg[T]{start: addr}, func(x *seg[T]) bool {
		if x.end > addr {
			r = x
		}
		return false
	})
	return r
}

// lowerBound returns the first segment that ends after addr (the one
// containing addr, or the next one above it), or nil.
func (s *rangeSet[T]) lowerBound(addr uintptr) *seg[T] {
	if r := s.find(addr); r != nil {
		return r
	}
	return s.firstFrom(addr)
}

// firstFrom returns the first segment starting at or after addr, or nil.
func (s *rangeSet[T]) firstFrom(addr uintptr) *seg[T] {
	var r *seg[T]
	s.t.AscendGreaterOrEqual(&seg[T]{start: addr}, func(x *seg[T]) bool {
		r = x
		return false
	})
	return r
}

// prev returns the segment before x (ordered by start), or nil.
func (s *rangeSet[T]) prev(x *seg[T]) *seg[T] {
	var r *seg[T]
	s.t.DescendLessOrEqual(x, func(y *seg[T]) bool {
		if y == x {
			return true
		}
		r = y
		return false
	})
	return r
}

// overlapping returns the segments that intersect [start, end), in order.
func (s *rangeSet[T]) overlapping(start, end uintptr) []*seg[T] {
	var r []*seg[T]
	first := s.lowerBound(start)
	if first == nil || first.start >= end {
		return nil
	}
	s.t.AscendGreaterOrEqual(first, func(x *seg[T]) bool {
		if x.start >= end {
			return false
		}
		r = append(r, x)
		return true
	})
	return r
}

// splitAt makes addr a segment boundary if a segment strictly contains it.
// It returns the segment starting at addr, if any.
func (s *rangeSet[T]) splitAt(addr uintptr) *seg[T] {
	x := s.find(addr)
	if x == nil {
		return nil
	}
	if x.start == addr {
		return x
	}
	hi := &seg[T]{start: addr, end: x.end, val: x.val.split(addr - x.start)}
	x.end = addr
	s.t.ReplaceOrInsert(hi)
	return hi
}

// isolate splits segments at start and end and returns those within
// [start, end), in order.
func (s *rangeSet[T]) isolate(start, end uintptr) []*seg[T] {
	s.splitAt(start)
	s.splitAt(end)
	return s.overlapping(start, end)
}

// insert adds x, which must not overlap any segment.
func (s *rangeSet[T]) insert(x *seg[T]) { s.t.ReplaceOrInsert(x) }

// remove deletes x.
func (s *rangeSet[T]) remove(x *seg[T]) { s.t.Delete(x) }

// all returns every segment in order.
func (s *rangeSet[T]) all() []*seg[T] {
	r := make([]*seg[T], 0, s.t.Len())
	s.t.Ascend(func(x *seg[T]) bool {
		r = append(r, x)
		return true
	})
	return r
}

// gaps returns the holes in [start, end) not covered by any segment.
func (s *rangeSet[T]) gaps(start, end uintptr) [][2]uintptr {
	var r [][2]uintptr
	pos := start
	for _, x := range s.overlapping(start, end) {
		if x.start > pos {
			r = append(r, [2]uintptr{pos, x.start})
		}
		pos = x.end
	}
	if pos < end {
		r = append(r, [2]uintptr{pos, end})
	}
	return r
}
