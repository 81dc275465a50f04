package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"devstack/cmd/devstack/render"
	"devstack/engine"
	"devstack/engine/model"
)

// psEntry is one container in `ps --format json`. Scripts rely on these
// names: add fields, never rename or remove one.
type psEntry struct {
	Service  string    `json:"service"`
	Name     string    `json:"name"`
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Health   string    `json:"health"`
	ExitCode int       `json:"exit_code"`
	Ports    []string  `json:"ports"`
	Image    string    `json:"image"`
	Created  time.Time `json:"created"`
	Replica  int       `json:"replica"`
	OneOff   bool      `json:"oneoff"`
	Restarts int       `json:"restarts"`
}

func newPsCmd(g *globals) *cobra.Command {
	var (
		all      bool
		format   string
		quiet    bool
		services bool
	)
	cmd := &cobra.Command{
		Use:   "ps [SERVICE...]",
		Short: "List the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, rt, err := g.existing(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			cs, err := engine.New(rt, nil).Containers(cmd.Context(), p, args, all)
			if err != nil {
				return err
			}
			sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
			switch {
			case quiet:
				for _, c := range cs {
					fmt.Fprintln(g.stdout, c.ID)
				}
				return nil
			case services:
				seen := map[string]bool{}
				for _, c := range cs {
					if !seen[c.Service] {
						seen[c.Service] = true
						fmt.Fprintln(g.stdout, c.Service)
					}
				}
				return nil
			}
			switch format {
			case "json":
				return writePsJSON(g.stdout, cs)
			case "table", "":
				writePsTable(g.stdout, cs, time.Now())
				return nil
			}
			return fmt.Errorf("unknown --format %q: use table or json", format)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include stopped containers")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only container IDs")
	cmd.Flags().BoolVar(&services, "services", false, "only service names")
	return cmd
}

func psEntries(cs []model.Container) []psEntry {
	out := make([]psEntry, 0, len(cs))
	for _, c := range cs {
		ports := []string{}
		for _, p := range c.Ports {
			ports = append(ports, engine.FormatPort(p))
		}
		out = append(out, psEntry{
			Service: c.Service, Name: c.Name, ID: c.ID, State: c.State, Health: c.Health,
			ExitCode: c.ExitCode, Ports: ports, Image: c.Image, Created: c.Created,
			Replica: c.Number, OneOff: c.OneOff, Restarts: c.Restarts,
		})
	}
	return out
}

func writePsJSON(w io.Writer, cs []model.Container) error {
	b, err := json.MarshalIndent(psEntries(cs), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writePsTable(w io.Writer, cs []model.Container, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tSTATUS\tPORTS\tIMAGE")
	for _, c := range cs {
		var ports []string
		for _, p := range c.Ports {
			ports = append(ports, engine.FormatPort(p))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Service, status(c, now), strings.Join(ports, ", "), c.Image)
	}
	tw.Flush()
}

// status reads like docker's: "running 3m (healthy)", "exited (1)".
func status(c model.Container, now time.Time) string {
	s := c.State
	switch c.State {
	case model.StateRunning:
		if up := render.Since(c.StartedAt, now); up != "" {
			s += " " + up
		}
	case model.StateExited, model.StateDead:
		s += fmt.Sprintf(" (%d)", c.ExitCode)
	}
	if c.Health != "" {
		s += " (" + c.Health + ")"
	}
	return s
}
