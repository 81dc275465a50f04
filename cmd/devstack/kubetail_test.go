package main

import "testing"

func TestKubeTail(t *testing.T) {
	for v, want := range map[string]int64{"": -1, "all": -1, "0": 0, "200": 200} {
		if n, err := kubeTail(v); err != nil || n != want {
			t.Errorf("kubeTail(%q) = %d, %v; want %d", v, n, err, want)
		}
	}
	if _, err := kubeTail("lots"); err == nil {
		t.Error(`kubeTail("lots") accepted a word`)
	}
}
