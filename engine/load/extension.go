package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// extensionKey is devstack's own section in a compose file.
const extensionKey = "x-devstack"

// rawSync and rawScratch mirror the YAML of x-devstack, with durations as
// the strings people write ("1h", "10ms").
type rawSync struct {
	Initial *bool  `json:"initial"`
	Quiet   string `json:"quiet"`
	MaxWait string `json:"max_wait"`
}

type rawCheck struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Command any    `json:"command"` // a string (run by sh -c) or a list
	Run     string `json:"run"`
}

type rawScratch struct {
	Every      string     `json:"every"`
	Cron       string     `json:"cron"`
	Timeout    string     `json:"timeout"`
	Checks     []rawCheck `json:"checks"`
	KeepMounts []string   `json:"keep_mounts"`
}

type rawProject struct {
	Scratch *rawScratch `json:"scratch"`
	Sync    *rawSync    `json:"sync"`
}

func decodeExtension(exts types.Extensions, into any) (bool, error) {
	v, ok := exts[extensionKey]
	if !ok {
		return false, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return true, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return true, dec.Decode(into)
}

func projectExtension(cp *types.Project) (model.Extension, []model.Warning, error) {
	var raw rawProject
	var ext model.Extension
	if ok, err := decodeExtension(cp.Extensions, &raw); err != nil {
		return ext, nil, fmt.Errorf("%s in %s: %v (see the README for its fields)", extensionKey, strings.Join(cp.ComposeFiles, ", "), err)
	} else if !ok {
		return ext, nil, nil
	}
	var err error
	if raw.Sync != nil {
		if ext.Sync, err = syncConfig(*raw.Sync, extensionKey+".sync"); err != nil {
			return ext, nil, err
		}
	}
	if s := raw.Scratch; s != nil {
		sc := model.ScratchConfig{Cron: s.Cron}
		if sc.Every, err = duration(s.Every, extensionKey+".scratch.every"); err != nil {
			return ext, nil, err
		}
		if sc.Timeout, err = duration(s.Timeout, extensionKey+".scratch.timeout"); err != nil {
			return ext, nil, err
		}
		for i, c := range s.Checks {
			check := model.ScratchCheck{Name: c.Name, Service: c.Service, Run: c.Run}
			switch cmd := c.Command.(type) {
			case nil:
			case string:
				check.Command = []string{"sh", "-c", cmd}
			case []any:
				for _, part := range cmd {
					check.Command = append(check.Command, fmt.Sprint(part))
				}
			default:
				return ext, nil, fmt.Errorf("%s.scratch.checks[%d].command: want a string or a list", extensionKey, i)
			}
			if (check.Service == "") == (check.Run == "") {
				return ext, nil, fmt.Errorf("%s.scratch.checks[%d]: give either service and command, or run", extensionKey, i)
			}
			if check.Service != "" && len(check.Command) == 0 {
				return ext, nil, fmt.Errorf("%s.scratch.checks[%d]: service %q needs a command", extensionKey, i, check.Service)
			}
			if check.Name == "" {
				check.Name = fmt.Sprintf("check %d", i+1)
			}
			sc.Checks = append(sc.Checks, check)
		}
		for _, m := range s.KeepMounts {
			if !filepath.IsAbs(m) {
				m = filepath.Join(cp.WorkingDir, m)
			}
			sc.KeepMounts = append(sc.KeepMounts, filepath.Clean(m))
		}
		ext.Scratch = sc
	}
	return ext, nil, nil
}

func serviceExtension(s types.ServiceConfig) (model.ServiceExtension, error) {
	var raw struct {
		Sync *rawSync `json:"sync"`
	}
	var ext model.ServiceExtension
	if ok, err := decodeExtension(s.Extensions, &raw); err != nil {
		return ext, fmt.Errorf("service %q: %s: %v", s.Name, extensionKey, err)
	} else if !ok || raw.Sync == nil {
		return ext, nil
	}
	var err error
	ext.Sync, err = syncConfig(*raw.Sync, fmt.Sprintf("service %q: %s.sync", s.Name, extensionKey))
	return ext, err
}

func syncConfig(r rawSync, where string) (model.SyncConfig, error) {
	c := model.SyncConfig{Initial: r.Initial}
	var err error
	if c.Quiet, err = duration(r.Quiet, where+".quiet"); err != nil {
		return c, err
	}
	c.MaxWait, err = duration(r.MaxWait, where+".max_wait")
	return c, err
}

func duration(s, where string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (write e.g. 10ms, 30s, 1h)", where, s)
	}
	return d, nil
}

var (
	lineRe     = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)
	yamlLineRe = regexp.MustCompile(`yaml: line (\d+)`)
	posRe      = regexp.MustCompile(`line (\d+), column (\d+): ([^:]+)$`)
)

// explain makes compose-go's errors say which file and what to do.
func explain(files []string, err error) error {
	msg := err.Error()
	file := strings.Join(files, ", ")
	switch {
	case errors.Is(err, os.ErrNotExist) && strings.Contains(msg, "env file"):
		return fmt.Errorf("%v: create it, fix env_file in %s, or mark it `required: false`", err, file)
	case strings.Contains(msg, "validating "):
		return fmt.Errorf("invalid compose file: %v: see the compose specification for this field", strings.TrimPrefix(msg, "validating "))
	case strings.Contains(msg, "yaml:") || yamlLineRe.MatchString(msg):
		// Lead with file:line:col, the way editors and compilers do.
		if m := posRe.FindAllStringSubmatch(msg, -1); len(m) > 0 {
			last := m[len(m)-1]
			return fmt.Errorf("%s:%s:%s: invalid YAML: %s", file, last[1], last[2], last[3])
		}
		return fmt.Errorf("%s: invalid YAML: %v", file, err)
	case strings.Contains(msg, "invalid interpolation") || strings.Contains(msg, "required variable"):
		return fmt.Errorf("%s: %v: set the variable in the environment or .env, or fix the ${...} expression", file, err)
	case strings.Contains(msg, "depends on undefined service"):
		return fmt.Errorf("%s: %v: define that service, enable its profile, or remove it from depends_on", file, err)
	case strings.Contains(msg, "dependency cycle"):
		return fmt.Errorf("%s: %v: break the cycle by removing one depends_on entry", file, err)
	}
	if lineRe.MatchString(msg) && !strings.Contains(msg, filepath.Base(files[0])) {
		return fmt.Errorf("%s: %w", file, err)
	}
	return err
}
