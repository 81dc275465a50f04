// Package templates holds the starter projects `devstack init` writes
// into a directory, embedded in the binary. Each is a directory here
// whose compose.yaml opens with a one-line description comment. A file
// name ending in ".tmpl" loses that ending when written: a go.mod cannot
// be embedded under its own name (it would make its directory another
// module), and Go sources under theirs would be a package of devstack's.
package templates

import (
	"bufio"
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed all:web all:node all:python all:go
var files embed.FS

// Default is the template written when none is named.
const Default = "web"

// Template is one starter project.
type Template struct {
	Name        string
	Description string // the first line of its compose.yaml
	Files       fs.FS  // rooted at the template's directory
}

// All returns every template, sorted by name.
func All() []Template {
	entries, _ := fs.ReadDir(files, ".")
	var out []Template
	for _, e := range entries {
		if t, ok := Get(e.Name()); ok {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the template called name.
func Get(name string) (Template, bool) {
	if name == "" || strings.ContainsAny(name, `/\.`) {
		return Template{}, false
	}
	sub, err := fs.Sub(files, name)
	if err != nil {
		return Template{}, false
	}
	f, err := sub.Open("compose.yaml")
	if err != nil {
		return Template{}, false
	}
	defer f.Close()
	first, _ := bufio.NewReader(f).ReadString('\n')
	return Template{Name: name, Description: strings.TrimSpace(strings.TrimPrefix(first, "#")), Files: sub}, true
}

// Target is the name a template file is written under.
func Target(path string) string {
	return strings.TrimSuffix(path, ".tmpl")
}
