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
	"devstack/engine/event"
	"devstack/engine/forward"
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
	// Local maps each of Ports forwarded to this machine (a stack on a
	// remote engine reached over SSH) to its local address.
	Local map[string]string `json:"local"`
}

func newPsCmd(g *globals) *cobra.Command {
	var (
		all      bool
		format   string
		quiet    bool
		services bool
		statuses []string
		filters  []string
		noTrunc  bool
	)
	cmd := &cobra.Command{
		Use:   "ps [SERVICE...]",
		Short: "List the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			keep, err := psFilter(statuses, filters)
			if err != nil {
				return err
			}
			p, rt, err := g.existing(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			// A status asked for is shown whether running or not.
			cs, err := engine.New(rt, nil).List(cmd.Context(), p, args, all || len(keep) > 0)
			if err != nil {
				return err
			}
			if len(keep) > 0 {
				var kept []model.Container
				for _, c := range cs {
					if keep[c.State] {
						kept = append(kept, c)
					}
				}
				cs = kept
			}
			fwd := forwardsOf(rt.Host(), p.Name)
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
				return writePsJSON(g.stdout, cs, fwd)
			case "table", "":
				writePsTable(g.stdout, cs, fwd, time.Now())
				return nil
			case "compose-json":
				return writePsCompose(g.stdout, format, p.Name, cs, time.Now(), noTrunc)
			}
			if strings.Contains(format, "{{") {
				return writePsCompose(g.stdout, format, p.Name, cs, time.Now(), noTrunc)
			}
			return fmt.Errorf("unknown --format %q: use table, json (devstack's array), compose-json (Compose's JSON lines) or a Go template", format)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include stopped containers")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json (an array), compose-json (Compose's JSON lines) or a Go template ('{{.Name}} {{.Status}}', 'table {{.Name}}\t{{.Ports}}')")
	cmd.Flags().StringArrayVar(&statuses, "status", nil, "only containers in this state (repeatable): paused, restarting, removing, running, dead, created, exited")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "only containers matching: status=STATE")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not cut IDs and commands short")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only container IDs")
	cmd.Flags().BoolVar(&services, "services", false, "only service names")
	return cmd
}

// portForwards are the forwards of a stack's ports, by replica and the
// engine's port ("0.0.0.0:8080->80/tcp").
type portForwards map[string]event.Forward

func (pf portForwards) of(c model.Container, port string) (event.Forward, bool) {
	f, ok := pf[fmt.Sprintf("%s\x00%d\x00%s", c.Service, c.Number, port)]
	return f, ok
}

// forwardsOf reads where the devstack that forwards the stack's ports put
// them (none when nothing forwards them).
func forwardsOf(host, project string) portForwards {
	r, ok, err := forward.ReadRecord(host, project)
	if err != nil || !ok {
		return nil
	}
	pf := portForwards{}
	for _, f := range r.Forwards {
		pf[fmt.Sprintf("%s\x00%d\x00%s", f.Service, f.Replica, f.Port)] = f
	}
	return pf
}

func psEntries(cs []model.Container, fwd portForwards) []psEntry {
	out := make([]psEntry, 0, len(cs))
	for _, c := range cs {
		ports := []string{}
		local := map[string]string{}
		for _, p := range c.Ports {
			port := engine.FormatPort(p)
			ports = append(ports, port)
			if f, ok := fwd.of(c, port); ok && f.Local != "" {
				local[port] = f.Local
			}
		}
		out = append(out, psEntry{
			Service: c.Service, Name: c.Name, ID: c.ID, State: c.State, Health: c.Health,
			ExitCode: c.ExitCode, Ports: ports, Image: c.Image, Created: c.Created,
			Replica: c.Number, OneOff: c.OneOff, Restarts: c.Restarts, Local: local,
		})
	}
	return out
}

func writePsJSON(w io.Writer, cs []model.Container, fwd portForwards) error {
	b, err := json.MarshalIndent(psEntries(cs, fwd), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writePsTable(w io.Writer, cs []model.Container, fwd portForwards, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tSTATUS\tPORTS\tIMAGE")
	for _, c := range cs {
		var ports []string
		for _, p := range c.Ports {
			ports = append(ports, portCell(c, engine.FormatPort(p), fwd))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Service, status(c, now), strings.Join(ports, ", "), c.Image)
	}
	tw.Flush()
}

// portCell is a port as ps shows it: where it is reached from here (the
// local end of a forward), or the engine's, said not forwarded when a
// forwarder could not (UDP, no free local port).
func portCell(c model.Container, port string, fwd portForwards) string {
	f, ok := fwd.of(c, port)
	switch {
	case !ok:
		return port
	case f.Local != "":
		_, target, _ := strings.Cut(port, "->")
		return f.Local + "->" + target
	}
	return port + " (not forwarded)"
}

// status reads like docker's: "running 3m (healthy)", "exited (1)".
func status(c model.Container, now time.Time) string {
	s := c.State
	switch c.State {
	case model.StateRunning:
		up := render.Since(c.StartedAt, now)
		if c.StartedAt.IsZero() {
			up = upFromStatus(c.Status)
		}
		if up != "" {
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

// upFromStatus shortens the engine's "Up 3 minutes (healthy)" to "3m",
// as render.Since writes it, for containers read from the engine's list
// (ps does not inspect each one for its exact start).
func upFromStatus(status string) string {
	rest, ok := strings.CutPrefix(status, "Up ")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, " ("); i >= 0 {
		rest = rest[:i]
	}
	switch rest {
	case "Less than a second":
		return "0s"
	case "About a minute":
		return "1m"
	case "About an hour":
		return "1h"
	}
	n, unit, ok := strings.Cut(rest, " ")
	if !ok {
		return ""
	}
	for _, u := range []struct{ word, short string }{
		{"second", "s"}, {"minute", "m"}, {"hour", "h"}, {"day", "d"}, {"week", "w"}, {"month", "mo"}, {"year", "y"},
	} {
		if strings.HasPrefix(unit, u.word) {
			return n + u.short
		}
	}
	return ""
}
