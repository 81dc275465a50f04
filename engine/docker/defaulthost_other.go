//go:build !darwin && !windows

package docker

// defaultSockets: the engine's own socket.
func defaultSockets() []candidate {
	return []candidate{{host: "unix:///var/run/docker.sock", what: "the Docker engine"}}
}

// startHint says how to start a local engine.
const startHint = "start it (`sudo systemctl start docker`, or run dockerd)"
