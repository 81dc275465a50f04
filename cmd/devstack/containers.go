package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/model"
)

func newRmCmd(g *globals) *cobra.Command {
	var (
		force, stop, volumes bool
	)
	cmd := &cobra.Command{
		Use:   "rm [SERVICE...]",
		Short: "Remove the stopped containers of services (-s: stop them first)",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			o := engine.RemoveOptions{Stop: stop, Volumes: volumes}
			cs, err := s.engine.Removable(ctx, s.project, args, o)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				fmt.Fprintln(g.stderr, "No stopped containers")
				return nil
			}
			if !force {
				names := make([]string, len(cs))
				for i, c := range cs {
					names[i] = c.Name
				}
				fmt.Fprintf(g.stderr, "Going to remove %s\nAre you sure? [yN] ", strings.Join(names, ", "))
				line, _ := bufio.NewReader(g.stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return &exitError{code: 1, err: fmt.Errorf("nothing removed (answer y, or pass -f)")}
				}
			}
			return s.engine.Remove(ctx, s.project, cs, o)
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	cmd.Flags().BoolVarP(&stop, "stop", "s", false, "stop the containers first, if they run")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove the anonymous volumes they mount")
	return cmd
}

func newCreateCmd(g *globals) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "create [SERVICE...]",
		Short: "Build what is missing and create the containers, without starting them",
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			if f.forceRecreate && f.noRecreate {
				return fmt.Errorf("--force-recreate and --no-recreate contradict each other: pick one")
			}
			if err := checkOrphanFlags(f.removeOrphans); err != nil {
				return err
			}
			if f.build && f.noBuild {
				return fmt.Errorf("--build and --no-build contradict each other: pick one")
			}
			return s.engine.Up(ctx, s.project, engine.UpOptions{Services: args, NoStart: true, Build: f.build, NoBuild: f.noBuild,
				ForceRecreate: f.forceRecreate, NoRecreate: f.noRecreate, RemoveOrphans: f.removeOrphans})
		}),
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.build, "build", false, "build images before creating containers, even when present")
	fl.BoolVar(&f.noBuild, "no-build", false, "never build; fail when an image is missing")
	fl.BoolVar(&f.forceRecreate, "force-recreate", false, "recreate containers even when unchanged")
	fl.BoolVar(&f.noRecreate, "no-recreate", false, "keep existing containers even when changed")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", envBool("COMPOSE_REMOVE_ORPHANS"), "remove containers of services the file no longer defines (default: COMPOSE_REMOVE_ORPHANS)")
	return cmd
}

func newWaitCmd(g *globals) *cobra.Command {
	var down bool
	cmd := &cobra.Command{
		Use:   "wait SERVICE...",
		Short: "Wait until a container of the services stops; exit with its code",
		Args:  cobra.MinimumNArgs(1),
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			_, code, err := s.engine.Wait(ctx, s.project, args)
			if err != nil {
				return err
			}
			if down {
				if err := s.engine.Down(ctx, s.project, engine.DownOptions{}); err != nil {
					return err
				}
			}
			fmt.Fprintln(g.stdout, code)
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&down, "down-project", false, "take the project down once the first container stops")
	return cmd
}

func newTopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "Show the processes running in the services' containers",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			tops, err := s.engine.Top(ctx, s.project, args)
			if err != nil {
				return err
			}
			sort.Slice(tops, func(i, j int) bool { return tops[i].Container.Name < tops[j].Container.Name })
			for i, t := range tops {
				if i > 0 {
					fmt.Fprintln(g.stdout)
				}
				fmt.Fprintln(g.stdout, t.Container.Name)
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, strings.Join(t.Titles, "\t"))
				for _, p := range t.Processes.Processes {
					fmt.Fprintln(tw, strings.Join(p, "\t"))
				}
				tw.Flush()
			}
			return nil
		}),
	}
}

// imageEntry is one line of `images --format json`, with Compose's keys.
type imageEntry struct {
	ID            string     `json:"ID"`
	ContainerName string     `json:"ContainerName"`
	Repository    string     `json:"Repository"`
	Tag           string     `json:"Tag"`
	Platform      string     `json:"Platform"`
	Size          int64      `json:"Size"`
	Created       *time.Time `json:"Created,omitempty"`
}

func newImagesCmd(g *globals) *cobra.Command {
	var (
		format string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "images [SERVICE...]",
		Short: "List the images the services' containers run",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			imgs, err := s.engine.Images(ctx, s.project, args)
			if err != nil {
				return err
			}
			sort.Slice(imgs, func(i, j int) bool { return imgs[i].Container.Name < imgs[j].Container.Name })
			switch {
			case quiet:
				seen := map[string]bool{}
				for _, i := range imgs {
					id := strings.TrimPrefix(i.Image.ID, "sha256:")
					if !seen[id] {
						seen[id] = true
						fmt.Fprintln(g.stdout, id)
					}
				}
			case format == "json":
				out := make([]imageEntry, 0, len(imgs))
				for _, i := range imgs {
					e := imageEntry{ID: i.Image.ID, ContainerName: i.Container.Name, Repository: i.Image.Repository, Tag: i.Image.Tag,
						Platform: i.Image.Platform, Size: i.Image.Size}
					if !i.Image.Created.IsZero() {
						e.Created = &i.Image.Created
					}
					out = append(out, e)
				}
				b, err := json.Marshal(out)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s\n", b)
			default:
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED")
				for _, i := range imgs {
					repo, tag := cmpOr(i.Image.Repository, "<none>"), cmpOr(i.Image.Tag, "<none>")
					id := strings.TrimPrefix(i.Image.ID, "sha256:")
					if len(id) > 12 {
						id = id[:12]
					}
					created := "N/A"
					if !i.Image.Created.IsZero() {
						created = humanDuration(time.Since(i.Image.Created)) + " ago"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Container.Name, repo, tag, i.Image.Platform, id, humanSize(i.Image.Size), created)
				}
				tw.Flush()
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only image IDs")
	return cmd
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + units[i]
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func newScaleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS...",
		Short: "Set the number of containers of services",
		Args:  cobra.MinimumNArgs(1),
		RunE: g.withSession(false, func(ctx context.Context, s *session, args []string) error {
			counts := map[string]int{}
			for _, a := range args {
				name, n, ok := strings.Cut(a, "=")
				count, err := strconv.Atoi(n)
				if !ok || err != nil {
					return fmt.Errorf("invalid scale %q: write SERVICE=REPLICAS, e.g. web=3", a)
				}
				counts[name] = count
			}
			return s.engine.Scale(ctx, s.project, counts)
		}),
	}
	return cmd
}

// usageTable prints one `stats` sample per container.
func usageTable(g *globals, names []string, us map[string]model.Usage) {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tPIDS")
	for _, n := range names {
		u := us[n]
		mem := 0.0
		if u.Limit > 0 {
			mem = float64(u.Memory) / float64(u.Limit) * 100
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%d\n", n, u.CPUPercent, binarySize(u.Memory), binarySize(u.Limit), mem,
			humanSize(int64(u.NetRx)), humanSize(int64(u.NetTx)), u.PIDs)
	}
	tw.Flush()
}

func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + units[i]
}
