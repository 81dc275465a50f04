package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine/load"
	"devstack/engine/snapshot"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save the stack's volumes and put them back (Vagrant's snapshots)",
		Long: `Snapshots keep the project's named volumes under $XDG_DATA_HOME/devstack/snapshots
(~/.local/share/devstack/snapshots), with a manifest and each volume's checksum. They are read and
written through the engine, so they work on a remote engine too (stored compressed on this machine).`,
	}
	cmd.AddCommand(newSnapshotSaveCmd(g), newSnapshotListCmd(g), newSnapshotRestoreCmd(g), newSnapshotRmCmd(g))
	return cmd
}

func (g *globals) logf(format string, args ...any) {
	fmt.Fprintf(g.stderr, format+"\n", args...)
}

func newSnapshotSaveCmd(g *globals) *cobra.Command {
	var containers bool
	cmd := &cobra.Command{
		Use:   "save NAME [SERVICE...]",
		Short: "Save the named volumes of the stack (or of the services named)",
		Args:  cobra.MinimumNArgs(1),
		RunE: g.withExistingArgs(func(ctx context.Context, s *session, args []string) error {
			store, err := snapshot.DefaultStore()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(ctx, nil)
			defer stop()
			_, err = snapshot.Save(ctx, snapshot.SaveOptions{Runtime: s.rt, Store: store, Project: s.project,
				Name: args[0], Services: args[1:], Compress: s.rt.Remote(), Containers: containers, Log: g.logf})
			return err
		}),
	}
	cmd.Flags().BoolVar(&containers, "containers", false, "also save each container's filesystem changes (committed as an image)")
	return cmd
}

func newSnapshotRestoreCmd(g *globals) *cobra.Command {
	var yes, resume bool
	cmd := &cobra.Command{
		Use:   "restore NAME | --resume",
		Short: "Put a snapshot's volumes back (the services that mount them stop meanwhile)",
		Long: `Put a snapshot's volumes back. They are staged and verified in a hidden directory of each volume
while the stack runs; only then do the services that mount them stop, for the renames that put the
staged data in place. A restore cut short (devstack killed, the engine gone) is finished by --resume,
by the next restore, or by the next up: the volumes end with the snapshot's data, never a mix (cut
short before any service stopped, it is undone instead: the volumes are as they were).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if resume {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: g.withExistingArgs(func(ctx context.Context, s *session, args []string) error {
			store, err := snapshot.DefaultStore()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(ctx, nil)
			defer stop()
			if resume {
				name, finished, err := snapshot.Resume(ctx, snapshot.RestoreOptions{Runtime: s.rt, Store: store, Project: s.project, Log: g.logf})
				if err == nil && name == "" {
					g.logf("no restore of project %s was left unfinished", s.project.Name)
				} else if err == nil && finished {
					g.logf("the restore of snapshot %s is finished", name)
				}
				return err
			}
			o := snapshot.RestoreOptions{Runtime: s.rt, Store: store, Project: s.project, Name: args[0], Log: g.logf}
			if !yes {
				o.Confirm = func(summary string) (bool, error) {
					return g.confirm(summary)
				}
			}
			_, err = snapshot.Restore(ctx, o)
			return err
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	cmd.Flags().BoolVar(&resume, "resume", false, "finish a restore that was cut short")
	return cmd
}

// finishRestore finishes a restore an earlier devstack left cut short
// before up touches the stack: up would otherwise start the services on
// volumes half copied. Without one it costs a file lookup.
func finishRestore(ctx context.Context, g *globals, s *session) error {
	store, err := snapshot.DefaultStore()
	if err != nil {
		return nil // no data directory: no snapshot was ever restored
	}
	name, err := store.Unfinished(s.project.Name)
	if err != nil || name == "" {
		return err
	}
	_, _, err = snapshot.Resume(ctx, snapshot.RestoreOptions{Runtime: s.rt, Store: store, Project: s.project, Log: g.logf})
	return err
}

// confirm asks a yes/no question on the terminal; without one it refuses
// and says how to confirm.
func (g *globals) confirm(question string) (bool, error) {
	if !isTerminalReader(g.stdin) {
		return false, fmt.Errorf("%s: confirm with --yes (no terminal to ask on)", question)
	}
	fmt.Fprintf(g.stderr, "%s. Go on? [y/N] ", question)
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// snapshotProject names the project whose snapshots list and rm see: the
// compose file's, else -p / COMPOSE_PROJECT_NAME; no engine is needed.
func (g *globals) snapshotProject(ctx context.Context) (string, error) {
	p, err := load.Load(ctx, g.loadOptions(nil))
	if err == nil {
		return p.Name, nil
	}
	var nf *load.NotFoundError
	if errors.As(err, &nf) && g.nameWithoutFile() != "" {
		return g.nameWithoutFile(), nil
	}
	return "", err
}

// snapshotEntry is one snapshot in `snapshot list --format json`.
type snapshotEntry struct {
	Name     string    `json:"name"`
	Project  string    `json:"project"`
	Created  time.Time `json:"created"`
	Size     int64     `json:"size"`
	Services []string  `json:"services"`
	Volumes  []string  `json:"volumes"`
	Engine   string    `json:"engine"`
}

func snapshotEntries(ms []snapshot.Manifest) []snapshotEntry {
	out := make([]snapshotEntry, 0, len(ms))
	for _, m := range ms {
		e := snapshotEntry{Name: m.Name, Project: m.Project, Created: m.Created, Size: m.Size(), Services: m.Services, Engine: m.Engine, Volumes: []string{}}
		if e.Services == nil {
			e.Services = []string{}
		}
		for _, v := range m.Volumes {
			e.Volumes = append(e.Volumes, v.Name)
		}
		out = append(out, e)
	}
	return out
}

func newSnapshotListCmd(g *globals) *cobra.Command {
	var (
		format string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the project's snapshots (--all: every project's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			project := ""
			if !all {
				var err error
				if project, err = g.snapshotProject(cmd.Context()); err != nil {
					return err
				}
			}
			store, err := snapshot.DefaultStore()
			if err != nil {
				return err
			}
			ms, err := store.List(project)
			if err != nil {
				return err
			}
			if format == "json" {
				b, _ := json.MarshalIndent(snapshotEntries(ms), "", "  ")
				fmt.Fprintf(g.stdout, "%s\n", b)
				return nil
			}
			writeSnapshotTable(g.stdout, ms, all, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "every project's snapshots")
	return cmd
}

func writeSnapshotTable(w io.Writer, ms []snapshot.Manifest, withProject bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if withProject {
		fmt.Fprint(tw, "PROJECT\t")
	}
	fmt.Fprintln(tw, "NAME\tCREATED\tSIZE\tSERVICES\tENGINE")
	for _, m := range ms {
		if withProject {
			fmt.Fprintf(tw, "%s\t", m.Project)
		}
		created := "?"
		if !m.Created.IsZero() {
			created = m.Created.Local().Format("2006-01-02 15:04") + " (" + ago(now.Sub(m.Created)) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, created, sizeString(m.Size()), strings.Join(m.Services, ","), m.Engine)
	}
	tw.Flush()
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func newSnapshotRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove snapshots",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, err := g.snapshotProject(cmd.Context())
			if err != nil {
				return err
			}
			store, err := snapshot.DefaultStore()
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := store.Remove(project, name); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "removed snapshot %s of %s\n", name, project)
			}
			return nil
		},
	}
}
