//go:build darwin

package docker

import (
	"os"
	"path/filepath"
)

// defaultSockets: where the engines people run on a Mac listen when no
// context is chosen. Docker Desktop links /var/run/docker.sock when
// allowed to (and OrbStack too), and otherwise listens only under
// ~/.docker/run; colima's default profile listens under $COLIMA_HOME
// (~/.colima). Their own contexts (desktop-linux, colima) are read like
// any other context.
func defaultSockets() []candidate {
	home, _ := os.UserHomeDir()
	colima := os.Getenv("COLIMA_HOME")
	if colima == "" {
		colima = filepath.Join(home, ".colima")
	}
	return []candidate{
		{host: "unix:///var/run/docker.sock", what: "Docker Desktop"},
		{host: "unix://" + filepath.Join(home, ".docker", "run", "docker.sock"), what: "Docker Desktop"},
		{host: "unix://" + filepath.Join(colima, "default", "docker.sock"), what: "colima"},
	}
}

// startHint says how to start a local engine.
const startHint = "start Docker Desktop, or colima (`colima start`)"
