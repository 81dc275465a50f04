//go:build !race

package tuibench

const raceEnabled = false
