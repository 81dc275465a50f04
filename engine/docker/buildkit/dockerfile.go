package buildkit

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is a Dockerfile as devstack reads it to explain a build:
// which line a step came from, and whether a `# syntax=` line asks for
// a frontend image.
type Dockerfile struct {
	Name       string // as the user knows it, e.g. "api/Dockerfile"
	Syntax     string // the frontend image of a `# syntax=` line, "" if none
	SyntaxLine int
	nodes      []*parser.Node
	shift      int // lines devstack inserted before the user's (see WithStages)
	firstFrom  int // line of the first FROM, 0 if none
	parsed     bool
	escape     rune
}

// ParseDockerfile reads data; a Dockerfile that does not parse yields one
// that explains nothing (the builder then says what is wrong with it).
func ParseDockerfile(name string, data []byte) *Dockerfile {
	df := &Dockerfile{Name: name}
	if syntax, _, loc, ok := parser.DetectSyntax(data); ok {
		df.Syntax = syntax
		if len(loc) > 0 {
			df.SyntaxLine = loc[0].Start.Line
		}
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return df
	}
	df.nodes, df.parsed, df.escape = res.AST.Children, true, res.EscapeToken
	for _, n := range df.nodes {
		if strings.EqualFold(n.Value, "from") {
			df.firstFrom = n.StartLine
			break
		}
	}
	return df
}

// Instruction finds the instruction a BuildKit step ran, from the step's
// name ("[stage-1 2/4] RUN make" -> line and "RUN make"). ok is false for
// the builder's own steps and for names that match nothing.
func (df *Dockerfile) Instruction(step string) (line int, text string, ok bool) {
	if !strings.HasPrefix(step, "[") {
		return 0, "", false
	}
	_, instr, found := strings.Cut(step, "] ")
	if !found || strings.HasPrefix(step, "[internal]") {
		return 0, "", false
	}
	want := squash(instr)
	// Exact first; then with build arguments expanded (BuildKit names a
	// step with $VAR replaced by its value).
	for _, expand := range []bool{false, true} {
		for _, n := range df.nodes {
			got := squash(n.Original)
			if got != want && !(expand && withArgs(got).MatchString(want)) {
				continue
			}
			if n.StartLine == 0 {
				return 0, "", false // a stage devstack added
			}
			return df.UserLine(n.StartLine), strings.TrimSpace(n.Original), true
		}
	}
	return 0, "", false
}

var argRef = regexp.MustCompile(`\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*`)

// withArgs matches an instruction's text whatever its $VAR references
// expanded to.
func withArgs(instr string) *regexp.Regexp {
	parts := argRef.Split(instr, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// squash collapses runs of white space (and line continuations) so that
// BuildKit's rendering of an instruction compares with its source.
func squash(s string) string {
	s = strings.ReplaceAll(s, "\\\n", " ")
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// WithStages returns data with a `FROM ref AS name` stage for each entry
// put before the first FROM (after the global ARGs and the parser
// directives, which must stay first), so `COPY --from=name` and
// `FROM name` resolve to ref on a builder without named contexts. The
// Dockerfile then reports the user's own line numbers for the rest.
func (df *Dockerfile) WithStages(data []byte, stages map[string]string) ([]byte, error) {
	if len(stages) == 0 {
		return data, nil
	}
	if df.firstFrom == 0 {
		return nil, fmt.Errorf("%s has no FROM instruction", df.Name)
	}
	names := make([]string, 0, len(stages))
	for n := range stages {
		names = append(names, n)
	}
	sort.Strings(names)
	var add bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&add, "FROM %s AS %s\n", stages[n], n)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	for i, l := range lines {
		if i == df.firstFrom-1 {
			out.Write(add.Bytes())
		}
		out.Write(l)
	}
	df.shift = len(names)
	// Line numbers before the insertion do not move; after it they move
	// by shift. Instruction maps back for nodes after the first FROM.
	res, err := parser.Parse(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("unable to add the additional contexts to %s: %w", df.Name, err)
	}
	df.nodes = res.AST.Children
	for _, n := range df.nodes {
		if n.StartLine >= df.firstFrom && n.StartLine < df.firstFrom+df.shift {
			n.StartLine = 0 // a stage devstack added
		}
	}
	return out.Bytes(), nil
}

// UserLine maps a line of the Dockerfile sent to the builder back to the
// user's file.
func (df *Dockerfile) UserLine(line int) int {
	if df.shift > 0 && line >= df.firstFrom+df.shift {
		return line - df.shift
	}
	return line
}

// Sources names the images the Dockerfile reads that are not its own
// stages: FROM, COPY --from and RUN --mount=…,from=, with the global ARGs
// expanded (args, the build's arguments, override their defaults), in
// the order they first appear. fixed is false when what the build reads
// cannot be known without building: a name with a variable left
// unresolved, an ADD of a URL or a git repository (the builder fetches
// those again at every build), or a Dockerfile that does not parse.
// contexts are the names of the build's additional contexts, which are
// not images either. Call it before WithStages.
func (df *Dockerfile) Sources(args map[string]*string, contexts []string) (images []string, fixed bool) {
	if !df.parsed {
		return nil, false
	}
	lex := shell.NewLex(df.escape)
	global := map[string]string{}
	stages := map[string]bool{}
	for _, c := range contexts {
		stages[strings.ToLower(c)] = true
	}
	seen := map[string]bool{}
	add := func(ref string) {
		if !seen[ref] {
			seen[ref] = true
			images = append(images, ref)
		}
	}
	// fromRef reads an image or stage name; ok is false when it cannot
	// be resolved here.
	external := func(name string) (string, bool) {
		if strings.Contains(name, "$") {
			return "", false
		}
		if stages[strings.ToLower(name)] || isIndex(name) {
			return "", true
		}
		return name, true
	}
	inStage := false
	for _, n := range df.nodes {
		switch strings.ToLower(n.Value) {
		case "arg":
			if inStage {
				continue
			}
			for a := n.Next; a != nil; a = a.Next {
				name, def, hasDef := strings.Cut(a.Value, "=")
				if v, ok := args[name]; ok && v != nil {
					global[name] = *v
					continue
				}
				if !hasDef {
					continue
				}
				res, err := lex.ProcessWordWithMatches(def, envOf(global))
				if err != nil || len(res.Unmatched) > 0 {
					continue // left unset: a FROM that uses it is not fixed
				}
				global[name] = res.Result
			}
		case "from":
			inStage = true
			if n.Next == nil {
				return nil, false
			}
			res, err := lex.ProcessWordWithMatches(n.Next.Value, envOf(global))
			if err != nil || len(res.Unmatched) > 0 || res.Result == "" {
				return nil, false
			}
			ref := res.Result
			if !stages[strings.ToLower(ref)] && !strings.EqualFold(ref, "scratch") {
				add(ref)
			}
			if as := n.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
				stages[strings.ToLower(as.Next.Value)] = true
			}
		case "copy", "run":
			for _, f := range n.Flags {
				var from string
				switch {
				case strings.HasPrefix(f, "--from="):
					from = strings.TrimPrefix(f, "--from=")
				case strings.HasPrefix(f, "--mount="):
					for _, kv := range strings.Split(strings.TrimPrefix(f, "--mount="), ",") {
						if k, v, _ := strings.Cut(kv, "="); strings.EqualFold(strings.TrimSpace(k), "from") {
							from = strings.Trim(strings.TrimSpace(v), `"`)
						}
					}
				}
				if from == "" {
					continue
				}
				ref, ok := external(from)
				if !ok {
					return nil, false
				}
				if ref != "" {
					add(ref)
				}
			}
		case "add":
			for a := n.Next; a != nil && a.Next != nil; a = a.Next { // every word but the destination
				if strings.Contains(a.Value, "://") || strings.HasPrefix(a.Value, "git@") {
					return nil, false
				}
			}
		}
	}
	return images, true
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// envOf adapts a map to the lexer's environment.
func envOf(m map[string]string) shell.EnvGetter {
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return shell.EnvsFromSlice(env)
}
