package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/forward"
	"devstack/engine/scratch"
	"devstack/engine/snapshot"
)

// statusEntry is one project in `status --format json`.
type statusEntry struct {
	Name        string           `json:"name"`
	Status      string           `json:"status"` // as ls says it; "not on the engine" for a project known only by its snapshots or rebuilds
	ConfigFiles string           `json:"config_files"`
	Scratch     *statusScratch   `json:"scratch"`
	Sync        *statusSync      `json:"sync"`
	Snapshots   []statusSnapshot `json:"snapshots"`
}

type statusScratch struct {
	Status     string    `json:"status"` // pass | fail | error
	Started    time.Time `json:"started"`
	Categories []string  `json:"categories"` // of the hidden dependencies found
}

type statusSync struct {
	PID        int  `json:"pid"`
	Background bool `json:"background"`
	Forwards   int  `json:"forwards"`
}

type statusSnapshot struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
}

// notOnEngine is the status of a project known only from this machine's
// records.
const notOnEngine = "not on the engine"

func newStatusCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Every project at a glance: status, files, last scratch rebuild, sync and snapshots (Vagrant's global-status)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			ctx := cmd.Context()
			rt, err := g.runtime(ctx)
			if err != nil {
				return err
			}
			defer rt.Close()
			ps, err := engine.Projects(ctx, rt, true)
			if err != nil {
				return err
			}
			entries := map[string]*statusEntry{}
			var names []string
			add := func(name string) *statusEntry {
				if e := entries[name]; e != nil {
					return e
				}
				e := &statusEntry{Name: name, Status: notOnEngine, Snapshots: []statusSnapshot{}}
				entries[name] = e
				names = append(names, name)
				return e
			}
			for _, p := range ps {
				e := add(p.Name)
				e.Status, e.ConfigFiles = p.Status, p.ConfigFiles
			}
			if store, err := snapshot.DefaultStore(); err == nil {
				ms, err := store.List("")
				if err != nil {
					return err
				}
				for _, m := range ms {
					e := add(m.Project)
					e.Snapshots = append(e.Snapshots, statusSnapshot{Name: m.Name, Created: m.Created, Size: m.Size()})
				}
			}
			if h, err := scratch.DefaultHistory(); err == nil {
				reports, _ := h.List("") // a damaged history is said by `scratch history`; status shows what it can
				for _, r := range reports {
					if r.Status == "" {
						continue
					}
					e := entries[r.Project]
					if e == nil {
						continue // rebuilds of projects gone from the engine and without snapshots are history, not status
					}
					if e.Scratch == nil || r.Started.After(e.Scratch.Started) {
						e.Scratch = &statusScratch{Status: r.Status, Started: r.Started, Categories: []string{}}
						for _, f := range r.Findings {
							e.Scratch.Categories = append(e.Scratch.Categories, f.Category)
						}
					}
				}
			}
			for _, name := range names {
				if rec, ok, err := forward.ReadRecord(rt.Host(), name); err == nil && ok {
					entries[name].Sync = &statusSync{PID: rec.PID, Background: rec.Background, Forwards: len(rec.Forwards)}
				}
			}
			sort.Strings(names)
			if format == "json" {
				out := make([]statusEntry, 0, len(names))
				for _, n := range names {
					out = append(out, *entries[n])
				}
				b, _ := json.MarshalIndent(out, "", "  ")
				fmt.Fprintf(g.stdout, "%s\n", b)
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tSCRATCH\tSYNC\tSNAPSHOTS\tCONFIG FILES")
			for _, n := range names {
				e := entries[n]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Status, scratchCell(e.Scratch, now), syncCell(e.Sync), snapshotsCell(e.Snapshots), e.ConfigFiles)
			}
			tw.Flush()
			fmt.Fprintf(g.stdout, "\nengine: %s. Act on one with `devstack -p NAME ...` (no compose file needed).\n", rt.Host())
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func scratchCell(s *statusScratch, now time.Time) string {
	if s == nil {
		return "-"
	}
	out := s.Status
	if len(s.Categories) > 0 {
		out += " (" + strings.Join(s.Categories, ",") + ")"
	}
	return out + ", " + ago(now.Sub(s.Started))
}

func syncCell(s *statusSync) string {
	if s == nil {
		return "-"
	}
	who := "attached"
	if s.Background {
		who = "background"
	}
	return fmt.Sprintf("%s pid %d, %d forward(s)", who, s.PID, s.Forwards)
}

func snapshotsCell(ss []statusSnapshot) string {
	if len(ss) == 0 {
		return "-"
	}
	return fmt.Sprintf("%d (latest %s)", len(ss), ss[len(ss)-1].Name)
}

// The Vagrant verbs, where the meaning matches one of Compose's.

func newDestroyCmd(g *globals) *cobra.Command {
	var (
		yes     bool
		timeout timeoutFlag
	)
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Remove the stack with its volumes: down -v, after asking (Vagrant's destroy)",
		Args:  cobra.NoArgs,
		RunE: g.withExisting(func(ctx context.Context, s *session, _ []string) error {
			if !yes {
				var vols []string
				for _, v := range s.project.Volumes {
					if !v.External {
						vols = append(vols, v.Name)
					}
				}
				sort.Strings(vols)
				q := fmt.Sprintf("destroy project %s: removes its containers and networks", s.project.Name)
				if len(vols) > 0 {
					q += " and its volumes " + strings.Join(vols, ", ") + " (their data is lost; `devstack snapshot save` keeps a copy)"
				}
				ok, err := g.confirm(q)
				if err != nil {
					return err
				}
				if !ok {
					return &exitError{code: 1, err: fmt.Errorf("destroy cancelled: nothing was removed")}
				}
			}
			return s.engine.Down(ctx, s.project, engine.DownOptions{Volumes: true, Timeout: timeout.duration()})
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	addTimeout(cmd, &timeout)
	return cmd
}

func newReloadCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reload [SERVICE...]",
		Short: "Apply the compose file: up -d, recreating what changed (Vagrant's reload)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, upFlags{detach: true, timeout: -1}, args)
		},
	}
	return cmd
}

// addVagrantAliases gives Compose's commands Vagrant's names for them.
func addVagrantAliases(root *cobra.Command) {
	aliases := map[string]string{"stop": "halt", "pause": "suspend", "unpause": "resume"}
	for _, c := range root.Commands() {
		if a, ok := aliases[c.Name()]; ok {
			c.Aliases = append(c.Aliases, a)
		}
	}
}
