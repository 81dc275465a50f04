package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"devstack/engine/load"
	"devstack/templates"
)

func newInitCmd(g *globals) *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "init [TEMPLATE] [DIR]",
		Short: "Start a project from a built-in template (devstack init --list shows them)",
		Long: "Write a starter project into DIR (default: the current directory; made if missing):\n" +
			"a compose file with live sync set up, and the sources it builds. TEMPLATE defaults to\n" +
			templates.Default + ". Nothing is ever overwritten: when DIR already has a compose file or\n" +
			"any file the template would write, nothing is written.",
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				for _, t := range templates.All() {
					fmt.Fprintf(g.stdout, "%-8s %s\n", t.Name, t.Description)
				}
				return nil
			}
			name, dir := templates.Default, "."
			if len(args) > 0 {
				name = args[0]
			}
			if len(args) > 1 {
				dir = args[1]
			}
			t, ok := templates.Get(name)
			if !ok {
				var names []string
				for _, t := range templates.All() {
					names = append(names, t.Name)
				}
				return fmt.Errorf("there is no template %q: choose one of %s (devstack init --list says what each is)", name, strings.Join(names, ", "))
			}
			written, err := writeTemplate(t, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote the %s template into %s:\n", t.Name, dir)
			for _, w := range written {
				fmt.Fprintf(g.stdout, "  %s\n", w)
			}
			next := "devstack up"
			if filepath.Clean(dir) != "." {
				next = "cd " + dir + " && " + next
			}
			fmt.Fprintf(g.stdout, "next: %s\n", next)
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the templates")
	return cmd
}

// writeTemplate writes t's files into dir, made if missing, and returns
// their names. It never overwrites: if dir holds a compose file or any
// file t would write, nothing is written. Files are created through an
// os.Root on dir, each with O_EXCL, so neither a symlink nor a file that
// appeared meanwhile is written through; a failure half-way removes
// what was written.
func writeTemplate(t templates.Template, dir string) ([]string, error) {
	var sources []string
	err := fs.WalkDir(t.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			sources = append(sources, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	madeDir := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		madeDir = true
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var made []string // files and directories created, in order
	undo := func() {
		for i := len(made) - 1; i >= 0; i-- {
			_ = root.Remove(made[i])
		}
		if madeDir {
			_ = os.Remove(dir)
		}
	}

	var conflicts []string
	for _, n := range load.FileNames() {
		if _, err := root.Lstat(n); err == nil {
			conflicts = append(conflicts, n)
		}
	}
	for _, src := range sources {
		if n := templates.Target(src); !slices.Contains(conflicts, n) {
			if _, err := root.Lstat(n); err == nil {
				conflicts = append(conflicts, n)
			}
		}
	}
	if len(conflicts) > 0 {
		undo()
		return nil, fmt.Errorf("%s already has %s: devstack init never overwrites a file; move them away or name another directory",
			dir, strings.Join(conflicts, ", "))
	}

	var written []string
	for _, src := range sources {
		name := templates.Target(src)
		if err := writeFile(root, t.Files, src, name, &made); err != nil {
			undo()
			return nil, fmt.Errorf("unable to write %s: %w (nothing was left behind)", filepath.Join(dir, name), err)
		}
		written = append(written, name)
	}
	return written, nil
}

// writeFile writes src of files as name in root, making its parent
// directories; what it creates is appended to made.
func writeFile(root *os.Root, files fs.FS, src, name string, made *[]string) error {
	var parents []string
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		parents = append([]string{d}, parents...)
	}
	for _, d := range parents {
		if err := root.Mkdir(d, 0o755); err == nil {
			*made = append(*made, d)
		} else if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	data, err := fs.ReadFile(files, src)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(name, ".sh") {
		mode = 0o755
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	*made = append(*made, name)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
