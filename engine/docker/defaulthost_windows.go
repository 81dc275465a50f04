//go:build windows

package docker

// defaultSockets: Docker Desktop's (and Docker Engine's) named pipe, as
// the docker CLI defaults to. Docker Desktop's desktop-linux context is
// read like any other context. The moby client dials named pipes
// through go-winio.
func defaultSockets() []candidate {
	return []candidate{{host: "npipe:////./pipe/docker_engine", what: "Docker Desktop"}}
}

// startHint says how to start a local engine.
const startHint = "start Docker Desktop"
