package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/model"
)

// lsEntry is one project in `ls --format json`, with Compose's keys.
type lsEntry struct {
	Name        string `json:"Name"`
	Status      string `json:"Status"`
	ConfigFiles string `json:"ConfigFiles"`
}

func newLsCmd(g *globals) *cobra.Command {
	var (
		all     bool
		quiet   bool
		format  string
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the compose projects on the engine, whichever tool made them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			match, err := lsFilter(filters)
			if err != nil {
				return err
			}
			rt, err := g.runtime(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			ps, err := engine.Projects(cmd.Context(), rt, all)
			if err != nil {
				return err
			}
			var shown []model.ProjectSummary
			for _, p := range ps {
				if match(p) {
					shown = append(shown, p)
				}
			}
			switch {
			case quiet:
				for _, p := range shown {
					fmt.Fprintln(g.stdout, p.Name)
				}
			case format == "json":
				entries := make([]lsEntry, 0, len(shown))
				for _, p := range shown {
					entries = append(entries, lsEntry{p.Name, p.Status, p.ConfigFiles})
				}
				b, err := json.Marshal(entries)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s\n", b)
			default:
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
				for _, p := range shown {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, p.ConfigFiles)
				}
				tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "also projects whose containers are all stopped")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only project names")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "only projects matching: name=TEXT (a part of the name)")
	return cmd
}

// lsFilter reads --filter name=X (what Compose's ls accepts).
func lsFilter(filters []string) (func(model.ProjectSummary) bool, error) {
	var names []string
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "name" {
			return nil, fmt.Errorf("invalid --filter %q: ls filters by name=TEXT only", f)
		}
		names = append(names, v)
	}
	return func(p model.ProjectSummary) bool {
		for _, n := range names {
			if !strings.Contains(p.Name, n) {
				return false
			}
		}
		return true
	}, nil
}
