package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Compose's environment variables that stand for flags. Each one is the
// default of its flag, so the flag given on the command line wins:
// COMPOSE_ENV_FILES (--env-file), COMPOSE_ANSI (--ansi), COMPOSE_PROGRESS
// (--progress), COMPOSE_PARALLEL_LIMIT (--parallel), COMPOSE_REMOVE_ORPHANS
// (--remove-orphans of up, create and down). COMPOSE_IGNORE_ORPHANS keeps
// orphans unreported and COMPOSE_STATUS_STDOUT puts progress on stdout.
// COMPOSE_MENU has no meaning here: attached up on a terminal is the
// dashboard, whose keys are always there.

// envOr is the variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envBool reads a boolean variable as Compose does: "1" or "true" (in any
// case) is true, anything else false.
func envBool(name string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(os.Getenv(name)))
	return err == nil && b
}

// envList splits a comma-separated variable; nil when it is unset.
func envList(name string) []string {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkOrphanFlags refuses --remove-orphans (or COMPOSE_REMOVE_ORPHANS)
// together with COMPOSE_IGNORE_ORPHANS, as Compose does: one removes what
// the other says to leave alone.
func checkOrphanFlags(removeOrphans bool) error {
	if removeOrphans && envBool("COMPOSE_IGNORE_ORPHANS") {
		return fmt.Errorf("COMPOSE_IGNORE_ORPHANS and --remove-orphans (or COMPOSE_REMOVE_ORPHANS) contradict each other: unset one")
	}
	return nil
}
