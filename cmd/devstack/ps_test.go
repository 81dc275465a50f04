package main

import "testing"

func TestUpFromStatus(t *testing.T) {
	for status, want := range map[string]string{
		"Up 3 minutes (healthy)":        "3m",
		"Up Less than a second":         "0s",
		"Up About a minute":             "1m",
		"Up 2 hours (health: starting)": "2h",
		"Up 5 days":                     "5d",
		"Up 45 seconds (Paused)":        "45s",
		"Exited (1) 2 hours ago":        "",
		"Created":                       "",
	} {
		if got := upFromStatus(status); got != want {
			t.Errorf("upFromStatus(%q) = %q, want %q", status, got, want)
		}
	}
}
