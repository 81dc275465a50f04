package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"devstack/engine"
	"devstack/engine/model"
)

// composeContainer is one container as Compose's `ps --format` sees it:
// the docker CLI's container fields and Compose's own (Name, Project,
// Service, Health, ExitCode, Publishers). Its JSON is Compose's
// `--format json` line, which scripts written for Compose parse.
type composeContainer struct {
	Command      string
	CreatedAt    string
	ExitCode     int
	Health       string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Name         string
	Names        string
	Networks     string
	Ports        string
	Project      string
	Publishers   []composePublisher
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string
}

type composePublisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
}

func composeContainerOf(project string, c model.Container, now time.Time, noTrunc bool) composeContainer {
	id, command := c.ID, c.Command
	if !noTrunc {
		if len(id) > 12 {
			id = id[:12]
		}
		if len(command) > 20 {
			command = command[:19] + "…"
		}
	}
	var labels []string
	for k, v := range c.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	var ports []string
	pubs := []composePublisher{}
	for _, p := range c.Ports {
		ports = append(ports, engine.FormatPort(p))
		url := p.HostIP
		if url == "" && p.HostPort != 0 {
			url = "0.0.0.0"
		}
		pubs = append(pubs, composePublisher{URL: url, TargetPort: int(p.Target), PublishedPort: int(p.HostPort), Protocol: p.Protocol})
	}
	return composeContainer{
		Command:      `"` + command + `"`,
		CreatedAt:    c.Created.Format("2006-01-02 15:04:05 -0700 MST"),
		ExitCode:     c.ExitCode,
		Health:       c.Health,
		ID:           id,
		Image:        c.Image,
		Labels:       strings.Join(labels, ","),
		LocalVolumes: fmt.Sprint(len(c.Volumes)),
		Mounts:       strings.Join(c.Volumes, ","),
		Name:         c.Name,
		Names:        c.Name,
		Networks:     strings.Join(c.Networks, ","),
		Ports:        strings.Join(ports, ", "),
		Project:      project,
		Publishers:   pubs,
		RunningFor:   humanDuration(now.Sub(c.Created)) + " ago",
		Service:      c.Service,
		Size:         "0B",
		State:        c.State,
		Status:       engineStatus(c, now),
	}
}

// engineStatus is the docker CLI's STATUS column: "Up 3 minutes
// (healthy)", "Exited (1) 2 hours ago", "Created".
func engineStatus(c model.Container, now time.Time) string {
	if c.Status != "" {
		return c.Status // the engine's own words, from its list
	}
	switch c.State {
	case model.StateRunning:
		s := "Up " + humanDuration(now.Sub(c.StartedAt))
		if c.Health != "" {
			s += " (" + c.Health + ")"
		}
		return s
	case model.StatePaused:
		return "Up " + humanDuration(now.Sub(c.StartedAt)) + " (Paused)"
	case model.StateExited:
		return fmt.Sprintf("Exited (%d)", c.ExitCode)
	case model.StateCreated:
		return "Created"
	}
	return strings.ToUpper(c.State[:1]) + c.State[1:]
}

// psTemplateFuncs are the docker CLI's template functions.
var psTemplateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return strings.TrimSuffix(b.String(), "\n"), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
}

// writePsCompose prints the containers as Compose's `ps --format` does:
// "json" and "compose-json" one JSON object a line, "table TEMPLATE" a
// header and aligned columns, any other Go template one line each.
func writePsCompose(w io.Writer, format, project string, cs []model.Container, now time.Time, noTrunc bool) error {
	if format == "json" || format == "compose-json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // "->" in ports stays readable, as the docker CLI writes it
		for _, c := range cs {
			if err := enc.Encode(composeContainerOf(project, c, now, noTrunc)); err != nil {
				return err
			}
		}
		return nil
	}
	text, table := strings.CutPrefix(format, "table ")
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	tmpl, err := template.New("ps").Funcs(psTemplateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return fmt.Errorf("invalid --format template: %w", err)
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		// The header: each field's name in capitals, as the docker CLI.
		var hb strings.Builder
		header := template.Must(template.New("h").Funcs(psTemplateFuncs).Parse(text))
		if err := header.Execute(&hb, headerFields); err == nil {
			fmt.Fprintln(out, hb.String())
		}
	}
	for _, c := range cs {
		if err := tmpl.Execute(out, composeContainerOf(project, c, now, noTrunc)); err != nil {
			return fmt.Errorf("invalid --format template: %w", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// headerFields renders a table template's header.
var headerFields = map[string]string{
	"Command": "COMMAND", "CreatedAt": "CREATED", "ExitCode": "EXIT CODE", "Health": "HEALTH", "ID": "CONTAINER ID",
	"Image": "IMAGE", "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS", "Name": "NAME",
	"Names": "NAMES", "Networks": "NETWORKS", "Ports": "PORTS", "Project": "PROJECT", "Publishers": "PUBLISHERS",
	"RunningFor": "CREATED", "Service": "SERVICE", "Size": "SIZE", "State": "STATE", "Status": "STATUS",
}

// psFilter reads --status and --filter status=X (what Compose's ps
// filters by) into the states to keep; none means all.
func psFilter(statuses, filters []string) (map[string]bool, error) {
	valid := map[string]bool{"paused": true, "restarting": true, "removing": true, "running": true, "dead": true, "created": true, "exited": true}
	keep := map[string]bool{}
	add := func(s, flag string) error {
		if !valid[s] {
			return fmt.Errorf("invalid %s %q: use paused, restarting, removing, running, dead, created or exited", flag, s)
		}
		keep[s] = true
		return nil
	}
	for _, s := range statuses {
		if err := add(s, "--status"); err != nil {
			return nil, err
		}
	}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "status" {
			return nil, fmt.Errorf("invalid --filter %q: ps filters by status=STATE only", f)
		}
		if err := add(v, "--filter status"); err != nil {
			return nil, err
		}
	}
	return keep, nil
}
