//go:build race

package tuibench

// The race detector multiplies memory use several times over.
const raceEnabled = true
