package logbuf

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func texts(refs []Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Service+":"+r.Line.Text)
	}
	return out
}

func TestRingKeepsNewestLinesAndCountsDropped(t *testing.T) {
	r := NewRing(3)
	for i := 1; i <= 7; i++ {
		r.Push(Line{Seq: uint64(i), Text: fmt.Sprint(i)})
	}
	if r.Len() != 3 || r.Dropped() != 4 {
		t.Fatalf("len %d dropped %d, want 3 and 4", r.Len(), r.Dropped())
	}
	var got []string
	for i := 0; i < r.Len(); i++ {
		got = append(got, r.At(i).Text)
	}
	if want := []string{"5", "6", "7"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := r.countUpTo(6); n != 2 {
		t.Fatalf("countUpTo(6) = %d, want 2", n)
	}
	r.AddDropped(10)
	if r.Dropped() != 14 {
		t.Fatalf("dropped %d after AddDropped(10), want 14", r.Dropped())
	}
}

func TestRingGrowsLazily(t *testing.T) {
	r := NewRing(10000)
	r.Push(Line{Seq: 1})
	if cap(r.buf) >= 10000 {
		t.Fatalf("a ring with one line allocated %d slots", cap(r.buf))
	}
}

// A store of two services with interleaved lines: a1 b1 a2 a3 b2 b3 a4.
func sample(limit int) *Store {
	s := NewStore(limit)
	for _, x := range []string{"a1", "b1", "a2", "a3", "b2", "b3", "a4"} {
		s.Append(x[:1], Line{Text: x})
	}
	return s
}

func TestViewMergesInArrivalOrder(t *testing.T) {
	s := sample(100)
	v := s.View()
	if got, want := texts(v.Tail(s.Last(), 100)), []string{"a:a1", "b:b1", "a:a2", "a:a3", "b:b2", "b:b3", "a:a4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tail = %v, want %v", got, want)
	}
	if got, want := texts(v.Tail(5, 2)), []string{"a:a3", "b:b2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tail(5,2) = %v, want %v", got, want)
	}
	if got, want := texts(v.Head(2)), []string{"a:a1", "b:b1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("head = %v, want %v", got, want)
	}
	one := s.View("b")
	if got, want := texts(one.Tail(s.Last(), 10)), []string{"b:b1", "b:b2", "b:b3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("b only = %v, want %v", got, want)
	}
	// Anchor 4 is a3, not a line of b: b's view ends at b1.
	if got, want := texts(one.Tail(4, 10)), []string{"b:b1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("b at anchor 4 = %v, want %v", got, want)
	}
	if v.Len() != 7 || one.Len() != 3 || v.Position(4) != 4 || one.Position(4) != 1 {
		t.Fatalf("len %d/%d position %d/%d", v.Len(), one.Len(), v.Position(4), one.Position(4))
	}
}

func TestViewStep(t *testing.T) {
	s := sample(100)
	v := s.View()
	for _, c := range []struct {
		anchor uint64
		delta  int
		want   uint64
	}{
		{7, -2, 5}, {7, 0, 7}, {7, 5, 7}, {3, -10, 1}, {3, 2, 5}, {0, -1, 1}, {0, 3, 3},
	} {
		got, ok := v.Step(c.anchor, c.delta)
		if !ok || got != c.want {
			t.Errorf("Step(%d, %d) = %d %v, want %d", c.anchor, c.delta, got, ok, c.want)
		}
	}
	b := s.View("b")
	// From a4 (seq 7) one line older in b's view is b2 (seq 5).
	if got, _ := b.Step(7, -1); got != 5 {
		t.Errorf("b.Step(7,-1) = %d, want 5", got)
	}
	if _, ok := s.View("nobody").Step(3, 1); ok {
		t.Error("Step on an empty view reported a line")
	}
}

func TestViewAfterEviction(t *testing.T) {
	s := sample(2) // keeps a3 a4 and b2 b3
	v := s.View()
	if got, want := texts(v.Tail(s.Last(), 10)), []string{"a:a3", "b:b2", "b:b3", "a:a4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tail = %v, want %v", got, want)
	}
	if v.Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", v.Dropped())
	}
	// An anchor whose line was evicted still works: nothing at or before 2.
	if got := v.Tail(2, 5); len(got) != 0 {
		t.Fatalf("tail at evicted anchor = %v", texts(got))
	}
	if got, _ := v.Step(2, -1); got != 4 {
		t.Fatalf("Step from an evicted anchor = %d, want the oldest line (4)", got)
	}
}

func TestViewFind(t *testing.T) {
	s := sample(100)
	v := s.View()
	match := func(_ string, l *Line) bool { return strings.HasPrefix(l.Text, "b") }
	if got, ok := v.Find(7, true, false, match); !ok || got != 6 {
		t.Fatalf("older from 7 = %d %v, want 6", got, ok)
	}
	if got, ok := v.Find(6, true, false, match); !ok || got != 5 {
		t.Fatalf("older from 6 = %d %v, want 5", got, ok)
	}
	if got, ok := v.Find(2, false, false, match); !ok || got != 5 {
		t.Fatalf("newer from 2 = %d %v, want 5", got, ok)
	}
	if _, ok := v.Find(2, true, false, match); ok {
		t.Fatal("found a b line older than b1")
	}
	if got, ok := v.Find(6, true, true, match); !ok || got != 6 {
		t.Fatalf("inclusive older from 6 = %d %v, want 6", got, ok)
	}
	if got, ok := v.Find(5, false, true, match); !ok || got != 5 {
		t.Fatalf("inclusive newer from 5 = %d %v, want 5", got, ok)
	}
}

func TestQuery(t *testing.T) {
	q := NewQuery("err")
	if !q.Match("An ERROR here") || q.Match("fine") {
		t.Fatal("lower-case query should match case-insensitively")
	}
	if got := q.Index("err ERR eRr"); !reflect.DeepEqual(got, [][2]int{{0, 3}, {4, 7}, {8, 11}}) {
		t.Fatalf("index = %v", got)
	}
	strict := NewQuery("ERR")
	if strict.Match("err") || !strict.Match("an ERR") {
		t.Fatal("a query with capitals is case-sensitive")
	}
	if NewQuery("").Match("x") {
		t.Fatal("the empty query matched")
	}
	if got := NewQuery("é").Index("CAFÉ café"); len(got) != 2 {
		t.Fatalf("unicode fold: %v", got)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"\x1b[31mred\x1b[0m":    "red",
		"a\tb":                  "a   b",
		"crlf\r":                "crlf",
		"bell\a and \x1b[2Kwip": "bell and wip",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}
