package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	str2duration "github.com/xhit/go-str2duration/v2"

	"devstack/engine/model"
)

// extensionKey is devstack's own section in a compose file, at the top
// level and in services.
const extensionKey = "x-devstack"

// rawSync, rawScratch and rawCheck mirror the YAML of x-devstack, with
// durations as the strings people write ("1h", "10ms", "1d").
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
	Scratch   *rawScratch `json:"scratch"`
	Sync      *rawSync    `json:"sync"`
	Runtime   string      `json:"runtime"`
	Registry  string      `json:"registry"`
	Namespace string      `json:"namespace"`
}

type rawService struct {
	Sync *rawSync `json:"sync"`
}

// decodeExtension decodes x-devstack from compose-go's extensions into a
// typed struct, refusing unknown fields so that a typo is an error and not
// a silently ignored setting.
func decodeExtension(exts types.Extensions, into any) (bool, error) {
	v, ok := exts[extensionKey]
	if !ok || v == nil {
		return false, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return true, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return true, dec.Decode(into)
}

var unknownFieldRe = regexp.MustCompile(`json: unknown field "([^"]+)"`)

// extensionError explains a decoding error of x-devstack at path.
func extensionError(files []string, path []string, service string, err error, known string) error {
	where := strings.Join(path, ".")
	e := &Error{Service: service, Err: err, Hint: "its fields are " + known}
	if m := unknownFieldRe.FindStringSubmatch(err.Error()); m != nil {
		e.Message = fmt.Sprintf("%s: unknown field %q", where, m[1])
		// The field may be nested (sync.max_wiat): look one and two
		// levels down too.
		for _, between := range [][]string{nil, {"*"}, {"*", "*"}} {
			full := slices.Concat(path, between, []string{m[1]})
			if pos, _ := locate(files, full...); pos.depth == len(full) {
				return e.at(files, full...)
			}
		}
	}
	e.Message = fmt.Sprintf("%s: %s", where, strings.TrimPrefix(err.Error(), "json: "))
	return e.at(files, path...)
}

func projectExtension(cp *types.Project, files []string) (model.Extension, error) {
	var raw rawProject
	var ext model.Extension
	if ok, err := decodeExtension(cp.Extensions, &raw); err != nil {
		return ext, extensionError(files, []string{extensionKey}, "", err,
			"scratch (every, cron, timeout, checks, keep_mounts), sync (initial, quiet, max_wait), runtime, registry and namespace")
	} else if !ok {
		return ext, nil
	}
	switch raw.Runtime {
	case "", model.RuntimeDocker, model.RuntimeKubernetes:
		ext.Runtime = raw.Runtime
	default:
		e := &Error{Message: fmt.Sprintf("%s.runtime: %q is not a runtime", extensionKey, raw.Runtime), Hint: "write docker or kubernetes"}
		return ext, e.at(files, extensionKey, "runtime")
	}
	ext.Registry, ext.Namespace = raw.Registry, raw.Namespace
	var err error
	if raw.Sync != nil {
		if ext.Sync, err = syncConfig(*raw.Sync, files, extensionKey, "sync"); err != nil {
			return ext, err
		}
	}
	if s := raw.Scratch; s != nil {
		if ext.Scratch, err = scratchConfig(cp, *s, files); err != nil {
			return ext, err
		}
	}
	return ext, nil
}

func scratchConfig(cp *types.Project, s rawScratch, files []string) (model.ScratchConfig, error) {
	sc := model.ScratchConfig{Cron: s.Cron}
	var err error
	if sc.Every, err = duration(s.Every, files, extensionKey, "scratch", "every"); err != nil {
		return sc, err
	}
	if sc.Timeout, err = duration(s.Timeout, files, extensionKey, "scratch", "timeout"); err != nil {
		return sc, err
	}
	for i, c := range s.Checks {
		check, err := scratchCheck(cp, c, i, files)
		if err != nil {
			return sc, err
		}
		sc.Checks = append(sc.Checks, check)
	}
	for _, m := range s.KeepMounts {
		if !filepath.IsAbs(m) {
			m = filepath.Join(cp.WorkingDir, m)
		}
		sc.KeepMounts = append(sc.KeepMounts, filepath.Clean(m))
	}
	return sc, nil
}

func scratchCheck(cp *types.Project, c rawCheck, i int, files []string) (model.ScratchCheck, error) {
	check := model.ScratchCheck{Name: c.Name, Service: c.Service, Run: c.Run}
	where := fmt.Sprintf("%s.scratch.checks[%d]", extensionKey, i)
	fail := func(msg, hint string) (model.ScratchCheck, error) {
		e := &Error{Message: where + ": " + msg, Hint: hint}
		pos, ok := locateSteps(files, key(extensionKey), key("scratch"), key("checks"), nth(i))
		if ok {
			e.File, e.Line, e.Column = pos.file, pos.line, pos.column
			return check, e
		}
		return check, e.at(files, extensionKey, "scratch", "checks")
	}
	switch cmd := c.Command.(type) {
	case nil:
	case string:
		check.Command = []string{"sh", "-c", cmd}
	case []any:
		for _, part := range cmd {
			check.Command = append(check.Command, fmt.Sprint(part))
		}
	default:
		return fail("command must be a string or a list", "write command: \"wget -q -O- 127.0.0.1\" or command: [wget, -q, ...]")
	}
	if (check.Service == "") == (check.Run == "") {
		return fail("give either service and command (run in that service), or run (a shell command on the host)", "")
	}
	if check.Service != "" {
		if len(check.Command) == 0 {
			return fail(fmt.Sprintf("service %q needs a command", check.Service), "add command:")
		}
		if _, ok := cp.Services[check.Service]; !ok {
			if _, disabled := cp.DisabledServices[check.Service]; !disabled {
				return fail(fmt.Sprintf("service %q is not defined", check.Service), "name a service of the project")
			}
		}
	}
	if check.Name == "" {
		check.Name = fmt.Sprintf("check %d", i+1)
	}
	return check, nil
}

func serviceExtension(s types.ServiceConfig, files []string) (model.ServiceExtension, error) {
	var raw rawService
	var ext model.ServiceExtension
	if ok, err := decodeExtension(s.Extensions, &raw); err != nil {
		return ext, extensionError(files, []string{"services", s.Name, extensionKey}, s.Name, err, "sync (initial, quiet, max_wait)")
	} else if !ok || raw.Sync == nil {
		return ext, nil
	}
	var err error
	ext.Sync, err = syncConfig(*raw.Sync, files, "services", s.Name, extensionKey, "sync")
	return ext, err
}

func syncConfig(r rawSync, files []string, path ...string) (model.SyncConfig, error) {
	c := model.SyncConfig{Initial: r.Initial}
	var err error
	if c.Quiet, err = duration(r.Quiet, files, append(path, "quiet")...); err != nil {
		return c, err
	}
	c.MaxWait, err = duration(r.MaxWait, files, append(path, "max_wait")...)
	return c, err
}

// duration parses a duration the way compose does for its own (so "1d"
// works as well as "90s").
func duration(s string, files []string, path ...string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := str2duration.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative")
	}
	if err != nil {
		e := &Error{Service: serviceOf(path), Err: err,
			Message: fmt.Sprintf("%s: %s is not a duration", strings.Join(path, "."), strconv.Quote(s)),
			Hint:    "write e.g. 10ms, 30s, 5m, 1h or 1d"}
		return 0, e.at(files, path...)
	}
	return d, nil
}
