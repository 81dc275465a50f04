package load

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v4"
)

// compose-go reports most problems with a dotted path (services.a.image)
// but not with the file and line where it is written. locate finds that
// position in the YAML node tree of the compose files. It only points at
// a line for an error message: the model always comes from compose-go.

// step matches one level of a path: a mapping key, a sequence item (by its
// index as "#3", its scalar value, or any scalar value of a mapping item),
// or a scalar.
type step func(name string) bool

func key(name string) step { return func(s string) bool { return s == name } }

func anyKey(string) bool { return true }

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != "" && s[0] != '-' && s[0] != '+'
}

// nth matches the i-th item of a sequence.
func nth(i int) step { return key("#" + strconv.Itoa(i)) }

func steps(path []string) []step {
	out := make([]step, len(path))
	for i, p := range path {
		switch {
		case p == "*" || p == "[]":
			out[i] = anyKey
		case isIndex(p):
			// The schema validator numbers list items.
			out[i] = func(s string) bool { return s == p || s == "#"+p }
		default:
			out[i] = key(p)
		}
	}
	return out
}

type position struct {
	file         string
	line, column int
	depth        int      // how many steps matched
	keys         []string // the names matched, one per step
}

// locate finds where path (e.g. services, a, depends_on, zz) is written,
// searching the last file first since later files override earlier ones.
// A partial match is accepted when it reaches at least the second level
// (the service), as the closest place to look.
func locate(files []string, path ...string) (position, bool) {
	return locateSteps(files, steps(path)...)
}

func locateSteps(files []string, path ...step) (position, bool) {
	var best position
	files = withIncludes(files)
	for i := len(files) - 1; i >= 0; i-- {
		root := parseNode(files[i])
		if root == nil {
			continue
		}
		pos := descend(root, path, position{file: files[i]})
		if pos.depth == len(path) {
			return pos, true
		}
		if pos.depth > best.depth {
			best = pos
		}
	}
	return best, best.depth > 0 && best.depth >= min(2, len(path))
}

func parseNode(file string) *yaml.Node {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

func descend(n *yaml.Node, path []step, here position) position {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || len(path) == 0 {
		return here
	}
	best := here
	try := func(at, next *yaml.Node, name string) {
		p := here
		p.line, p.column, p.depth = at.Line, at.Column, here.depth+1
		p.keys = append(slices.Clone(here.keys), name)
		if next != nil {
			p = descend(next, path[1:], p)
		}
		if p.depth > best.depth {
			best = p
		}
	}
	match := path[0]
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; match(k.Value) {
				try(k, n.Content[i+1], k.Value)
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if index := "#" + strconv.Itoa(i); match(index) && !match("#not-an-index") {
				try(item, item, index)
				continue
			}
			if item.Kind == yaml.ScalarNode && match(item.Value) {
				try(item, nil, item.Value)
				continue
			}
			if item.Kind == yaml.MappingNode {
				for i := 1; i < len(item.Content); i += 2 {
					if v := item.Content[i]; v.Kind == yaml.ScalarNode && match(v.Value) {
						try(item, item, v.Value)
						break
					}
				}
			}
		}
	case yaml.ScalarNode:
		if match(n.Value) {
			try(n, nil, n.Value)
		}
	}
	return best
}

// scalars returns the scalar items of the sequence (or the scalar) at path
// in the last file that has it, e.g. a service's profiles.
func scalars(files []string, path ...string) []string {
	files = withIncludes(files)
	for i := len(files) - 1; i >= 0; i-- {
		n := parseNode(files[i])
		for _, p := range path {
			n = child(n, p)
		}
		switch {
		case n == nil:
			continue
		case n.Kind == yaml.ScalarNode:
			return []string{n.Value}
		case n.Kind == yaml.SequenceNode:
			var out []string
			for _, item := range n.Content {
				if item.Kind == yaml.ScalarNode {
					out = append(out, item.Value)
				}
			}
			return out
		}
	}
	return nil
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// withIncludes adds the files that files include (include: entries,
// recursively), before them: the including files are searched first.
func withIncludes(files []string) []string {
	seen := map[string]bool{}
	var included []string
	var visit func(file string)
	visit = func(file string) {
		for _, inc := range includeEntries(file) {
			if !seen[inc] {
				seen[inc] = true
				visit(inc)
				included = append(included, inc)
			}
		}
	}
	for _, f := range files {
		seen[f] = true
	}
	for _, f := range files {
		visit(f)
	}
	return slices.Concat(included, files)
}

// includeEntries lists the files a compose file includes, as absolute paths.
func includeEntries(file string) []string {
	var out []string
	add := func(n *yaml.Node) {
		if n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
			p := n.Value
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(file), p)
			}
			out = append(out, p)
		}
	}
	inc := child(parseNode(file), "include")
	if inc == nil || inc.Kind != yaml.SequenceNode {
		return nil
	}
	for _, item := range inc.Content {
		switch item.Kind {
		case yaml.ScalarNode:
			add(item)
		case yaml.MappingNode:
			switch p := child(item, "path"); {
			case p == nil:
			case p.Kind == yaml.SequenceNode:
				for _, q := range p.Content {
					add(q)
				}
			default:
				add(p)
			}
		}
	}
	return out
}
