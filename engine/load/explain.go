package load

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v4"
)

// explain turns an error of compose-go into an *Error that names the file
// and line and says what to do. compose-go's errors are mostly plain
// strings, so they are recognised by their text; one it does not know is
// passed on with the compose files named.
func explain(files []string, err error) error {
	var known *Error
	var nf *NotFoundError
	if errors.As(err, &known) || errors.As(err, &nf) {
		return err
	}
	msg := err.Error()
	for _, r := range rules {
		if m := r.re.FindStringSubmatch(msg); m != nil {
			if e := r.explain(files, err, m); e != nil {
				return e
			}
		}
	}
	var missing template.MissingRequiredError
	if errors.As(err, &missing) {
		return requiredVariable(files, err, "", missing)
	}
	e := &Error{Message: strings.TrimSuffix(msg, ": "+errInvalidSuffix), Err: err}
	return e.at(files)
}

// errInvalidSuffix is what compose-go appends to many consistency errors
// (errdefs.ErrInvalid); it adds nothing for a person.
const errInvalidSuffix = "invalid compose project"

type rule struct {
	re      *regexp.Regexp
	explain func(files []string, err error, m []string) error
}

var rules = []rule{
	{regexp.MustCompile(`^validating (.+?): (.+)$`), func(files []string, err error, m []string) error {
		return schemaError(files, m[1], m[2], err)
	}},

	// YAML syntax, from whichever file fails to parse.
	{regexp.MustCompile(`(^|: )yaml: `), explainYAML},

	{regexp.MustCompile(`invalid interpolation format for ([^\s]+?)\.?\n(?:.*\n)?(.*)$`), func(files []string, err error, m []string) error {
		path := strings.Split(m[1], ".")
		e := &Error{Message: fmt.Sprintf("invalid interpolation in %s: %q", m[1], m[2]),
			Hint: "write a literal $ as $$, and close each ${...} expression", Err: err, Service: serviceOf(path)}
		return e.at(files, path...)
	}},

	{regexp.MustCompile(`error while interpolating ([^\s:]+): required variable (\S+) is missing a value(?:: (.*))?`), func(files []string, err error, m []string) error {
		return requiredVariable(files, err, m[1], template.MissingRequiredError{Variable: m[2], Reason: m[3]})
	}},

	{regexp.MustCompile(`service "([^"]+)" depends on undefined service "([^"]+)"`), func(files []string, err error, m []string) error {
		e := &Error{Service: m[1], Err: err,
			Message: fmt.Sprintf("service %q depends on undefined service %q", m[1], m[2]),
			Hint:    fmt.Sprintf("define %q under services:, or remove it from %s's depends_on", m[2], m[1])}
		if _, defined := locate(files, "services", m[2]); defined {
			// Defined, but left out by the active profiles.
			profiles := scalars(files, "services", m[2], "profiles")
			e.Message = fmt.Sprintf("service %q depends on %q, which is not enabled (profiles: %s)", m[1], m[2], strings.Join(profiles, ", "))
			e.Hint = fmt.Sprintf("enable it with --profile %s (or COMPOSE_PROFILES), or mark the dependency `required: false`", firstOr(profiles, "<profile>"))
		}
		return e.at(files, "services", m[1], "depends_on", m[2])
	}},

	{regexp.MustCompile(`service "([^"]+)" is required by "([^"]+)" but is disabled. Can be enabled by profiles \[(.*)\]`), func(files []string, err error, m []string) error {
		e := &Error{Service: m[2], Err: err,
			Message: fmt.Sprintf("service %q depends on %q, which is not enabled", m[2], m[1]),
			Hint:    fmt.Sprintf("enable it with --profile %s (or COMPOSE_PROFILES), or mark the dependency `required: false`", strings.ReplaceAll(m[3], " ", " --profile "))}
		return e.at(files, "services", m[2], "depends_on", m[1])
	}},

	{regexp.MustCompile(`dependency cycle detected: (.+)$`), func(files []string, err error, m []string) error {
		chain := strings.Split(m[1], " -> ")
		e := &Error{Err: err, Message: "dependency cycle: " + m[1],
			Hint: "remove one of these depends_on entries (or a links:/network_mode: service: that implies it)"}
		if len(chain) > 1 {
			e.Service = chain[0]
			return e.at(files, "services", chain[0], "depends_on", chain[1])
		}
		return e.at(files)
	}},

	{regexp.MustCompile(`(?s)^Circular reference:\n\s*(\S+) in (\S+)`), func(files []string, err error, m []string) error {
		chain, first := extendsChain(err.Error())
		e := &Error{Service: first, Err: err, Message: "services extend each other in a cycle: " + chain,
			Hint: "make one of them stop extending the other"}
		return e.at([]string{m[2]}, "services", first, "extends")
	}},

	{regexp.MustCompile(`cannot extend service "([^"]+)" in (\S+): (.+)$`), func(files []string, err error, m []string) error {
		e := &Error{Service: m[1], Err: err, Message: fmt.Sprintf("service %q cannot extend: %s", m[1], m[3]),
			Hint: "fix extends: (service, and file if the base is in another file)"}
		return e.at([]string{m[2]}, "services", m[1], "extends")
	}},

	{regexp.MustCompile(`^service "([^"]+)" refers to undefined (network|volume|secret|config|build secret|model) (.+?)(: invalid compose project)?$`), func(files []string, err error, m []string) error {
		svc, kind, name := m[1], m[2], m[3]
		section := map[string]string{"network": "networks", "volume": "volumes", "secret": "secrets",
			"config": "configs", "build secret": "secrets", "model": "models"}[kind]
		e := &Error{Service: svc, Err: err,
			Message: fmt.Sprintf("service %q uses %s %q, which is not defined", svc, kind, name),
			Hint:    fmt.Sprintf("declare it under the top-level %s:, or fix the name", section)}
		attr := section
		if kind == "build secret" {
			attr = "build"
		}
		pos, ok := locateSteps(files, key("services"), key(svc), key(attr), refTo(name))
		if !ok {
			return e.at(files, "services", svc, attr)
		}
		e.File, e.Line, e.Column = pos.file, pos.line, pos.column
		return e
	}},

	{regexp.MustCompile(`^service "([^"]+)" declares (unknown|non-buildable) service "([^"]+)" as additional contexts (\S+)`), func(files []string, err error, m []string) error {
		svc, what, other, name := m[1], m[2], m[3], m[4]
		e := &Error{Service: svc, Err: err,
			Message: fmt.Sprintf("service %q: build.additional_contexts.%s names service %q, which is not defined", svc, name, other),
			Hint:    "fix the name after service: (or use a directory or docker-image://REF)"}
		if what == "non-buildable" {
			e.Message = fmt.Sprintf("service %q: build.additional_contexts.%s names service %q, which has no build: section", svc, name, other)
			e.Hint = "use docker-image://IMAGE for an image that is not built here"
		}
		return e.at(files, "services", svc, "build", "additional_contexts", name)
	}},

	{regexp.MustCompile(`^service "([^"]+)" has neither an image nor a build context specified`), func(files []string, err error, m []string) error {
		e := &Error{Service: m[1], Err: err, Message: fmt.Sprintf("service %q has neither an image nor a build section", m[1]),
			Hint: "add image: (the image to run) or build: (how to build it)"}
		return e.at(files, "services", m[1])
	}},

	{regexp.MustCompile(`^env file (.+) not found: `), func(files []string, err error, m []string) error {
		return missingFile(files, err, "env_file", m[1],
			"create it, fix the path, or make it optional with `env_file: [{path: ..., required: false}]`")
	}},

	{regexp.MustCompile(`^label file (.+) not found: `), func(files []string, err error, m []string) error {
		return missingFile(files, err, "label_file", m[1], "create it or fix the path")
	}},

	{regexp.MustCompile(`^open (.+): no such file or directory$`), func(files []string, err error, m []string) error {
		// An include: entry that names a missing file.
		pos, ok := locateSteps(files, key("include"), resolvesTo(files, m[1]))
		if !ok {
			return nil
		}
		return &Error{File: pos.file, Line: pos.line, Column: pos.column, Err: err,
			Message: fmt.Sprintf("included file %s does not exist", m[1]), Hint: "fix the include: entry"}
	}},

	{regexp.MustCompile(`(?s)decoding failed due to the following error\(s\):\s+'([^']+)' (.+)$`), func(files []string, err error, m []string) error {
		path := decoderPath(m[1])
		problem := strings.TrimPrefix(firstLine(m[2]), "time: ")
		e := &Error{Service: serviceOf(path), Err: err, Message: fmt.Sprintf("%s: %s", strings.Join(path, "."), problem),
			Hint: "see the compose specification for the value this attribute takes"}
		if strings.Contains(problem, "invalid duration") {
			e.Hint = "write a duration such as 500ms, 10s or 1m30s"
		}
		return e.at(files, path...)
	}},

	{regexp.MustCompile(`^services\.([^.:\s]+)[.:]`), func(files []string, err error, m []string) error {
		// compose-go's own consistency checks name the service as a path.
		e := &Error{Service: m[1], Err: err, Message: strings.TrimSuffix(err.Error(), ": "+errInvalidSuffix)}
		return e.at(files, "services", m[1])
	}},

	{regexp.MustCompile(`error while interpolating ([^\s:]+): failed to cast to expected type: (?:strconv\.\w+: parsing "([^"]*)": )?(.+)$`), func(files []string, err error, m []string) error {
		path := strings.Split(m[1], ".")
		problem := m[3]
		switch value, isBool := strings.CutPrefix(m[3], "invalid boolean: "); {
		case isBool:
			problem = fmt.Sprintf("%q is not true or false", value)
		case m[2] != "":
			problem = fmt.Sprintf("%q is not a number", m[2])
		}
		e := &Error{Service: serviceOf(path), Err: err, Message: m[1] + ": " + problem,
			Hint: "see the compose specification for the value this attribute takes"}
		return e.at(files, path...)
	}},

	// The port parser names the bad part but neither the service nor
	// the entry: find the ports entry that holds it.
	{regexp.MustCompile(`^(?:invalid (?:containerPort|hostPort|proto|IP address):? (\S*)|invalid port '([^']*)'|no port specified|invalid ranges specified)`), func(files []string, err error, m []string) error {
		bad := m[1] + m[2]
		holds := func(s string) bool { return bad == "" || strings.Contains(s, bad) }
		e := &Error{Err: err, Message: "ports: " + firstLine(err.Error()),
			Hint: `write a port as [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. "127.0.0.1:8080:80" or "53:53/udp"`}
		pos, ok := locateSteps(files, key("services"), anyKey, key("ports"), holds)
		if !ok {
			e.File = strings.Join(files, ", ")
			return e
		}
		e.File, e.Line, e.Column = pos.file, pos.line, pos.column
		if len(pos.keys) > 1 {
			e.Service = pos.keys[1]
			e.Message = fmt.Sprintf("services.%s.ports: %s", pos.keys[1], firstLine(err.Error()))
		}
		return e
	}},

	{regexp.MustCompile(`^empty compose file$`), func(files []string, err error, m []string) error {
		return &Error{File: strings.Join(files, ", "), Err: err, Message: "the compose file is empty or not a mapping",
			Hint: "it needs at least a services: section"}
	}},
}

var (
	yamlPosRe  = regexp.MustCompile(`.*line (\d+)(?:, column (\d+))?: ([^\n]+)$`)
	yamlFileRe = regexp.MustCompile(`failed to parse (.+?): yaml:`)
)

// explainYAML reports a syntax error as file:line:column. compose-go's
// message lacks the file when it fails while reading the project name, so
// the file is found by parsing each one.
func explainYAML(files []string, err error, _ []string) error {
	file, msg := "", err.Error()
	if m := yamlFileRe.FindStringSubmatch(msg); m != nil {
		file = m[1]
	} else {
		for _, f := range files {
			if perr := yamlSyntax(f); perr != nil {
				file, msg = f, perr.Error()
				break
			}
		}
	}
	e := &Error{File: file, Err: err, Message: "invalid YAML",
		Hint: "check the indentation and the brackets and quotes around that line"}
	switch {
	case strings.Contains(msg, "already defined"):
		e.Hint = "keep only one of them"
	case strings.Contains(msg, "tab character"):
		e.Hint = "indent with spaces, not tabs"
	}
	if file == "" {
		e.File = strings.Join(files, ", ")
	}
	// The last position is the error's; an earlier one is its context.
	if m := yamlPosRe.FindStringSubmatch(lastLine(msg)); m != nil {
		fmt.Sscan(m[1], &e.Line)
		if m[2] != "" {
			fmt.Sscan(m[2], &e.Column)
		}
		e.Message += ": " + m[3]
	}
	return e
}

func yamlSyntax(file string) error {
	var anything any
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	return yaml.Unmarshal(b, &anything)
}

// schemaError explains a schema violation: an unknown attribute, or a
// value of the wrong type.
func schemaError(files []string, file, detail string, err error) error {
	pathText, problem, _ := strings.Cut(detail, " ")
	path := strings.Split(pathText, ".")
	e := &Error{Service: serviceOf(path), Err: err}
	switch {
	case problem == "false schema" || strings.HasPrefix(problem, "additional propert"):
		e.Message = fmt.Sprintf("%s: unknown attribute %q", strings.Join(path[:len(path)-1], "."), path[len(path)-1])
		e.Hint = "check its spelling against the compose specification (extensions must start with x-)"
	default:
		e.Message = fmt.Sprintf("%s %s", pathText, strings.ReplaceAll(problem, " a array", " an array"))
		e.Hint = "see the compose specification for the value this attribute takes"
	}
	return e.at([]string{file}, path...)
}

func requiredVariable(files []string, err error, where string, missing template.MissingRequiredError) error {
	e := &Error{Err: err,
		Message: fmt.Sprintf("the variable %s is required and not set", missing.Variable),
		Hint:    fmt.Sprintf("set %s in the environment, in .env or in an --env-file", missing.Variable)}
	if missing.Reason != "" {
		e.Message += " (" + missing.Reason + ")"
	}
	if where == "" {
		return e.at(files)
	}
	path := strings.Split(where, ".")
	e.Service = serviceOf(path)
	e.Message = where + ": " + e.Message
	return e.at(files, path...)
}

// missingFile explains a missing env_file or label_file, naming the
// service that refers to it.
func missingFile(files []string, err error, attr, path, hint string) error {
	e := &Error{Err: err, Hint: hint}
	pos, ok := locateSteps(files, key("services"), anyKey, key(attr), resolvesTo(files, path))
	if ok && len(pos.keys) > 1 {
		e.Service = pos.keys[1]
		e.File, e.Line, e.Column = pos.file, pos.line, pos.column
		e.Message = fmt.Sprintf("service %q: %s %s does not exist", e.Service, attr, path)
		return e
	}
	e.Message = fmt.Sprintf("%s %s does not exist", attr, path)
	return e.at(files)
}

// resolvesTo matches a path written in one of files that, resolved against
// the file's directory, is target.
func resolvesTo(files []string, target string) step {
	return func(s string) bool {
		if s == target {
			return true
		}
		for _, f := range files {
			if filepath.Join(filepath.Dir(f), s) == target {
				return true
			}
		}
		return false
	}
}

// refTo matches a reference to a named resource in short ("data:/data",
// "front") or long ({source: data}) syntax.
func refTo(name string) step {
	return func(s string) bool { return s == name || strings.HasPrefix(s, name+":") }
}

// decoderPath turns mapstructure's "services[a].stop_grace_period" into
// services, a, stop_grace_period.
func decoderPath(s string) []string {
	s = strings.NewReplacer("[", ".", "]", "").Replace(s)
	return strings.Split(s, ".")
}

func serviceOf(path []string) string {
	if len(path) > 1 && path[0] == "services" {
		return path[1]
	}
	return ""
}

// extendsChain renders compose-go's "Circular reference" listing as
// a -> b -> a, starting from the first name in alphabetical order so that
// the text does not depend on map order, and returns that first name. The
// files are named only when there are several.
func extendsChain(msg string) (string, string) {
	var names, files []string
	for _, line := range strings.Split(msg, "\n")[1:] {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "extends "))
		if len(f) == 3 && f[1] == "in" {
			names = append(names, f[0])
			if !slices.Contains(files, f[2]) {
				files = append(files, f[2])
			}
		}
	}
	if len(names) < 2 || len(files) > 1 {
		first := ""
		if len(names) > 0 {
			first = names[0]
		}
		return strings.Join(strings.Fields(strings.TrimPrefix(msg, "Circular reference:")), " "), first
	}
	cycle := names[:len(names)-1] // the last repeats the first
	start := slices.Index(cycle, slices.Min(cycle))
	cycle = append(slices.Clone(cycle[start:]), cycle[:start]...)
	return strings.Join(append(cycle, cycle[0]), " -> "), cycle[0]
}

func firstOr(s []string, fallback string) string {
	if len(s) > 0 {
		return s[0]
	}
	return fallback
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
