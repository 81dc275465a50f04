package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/model"
)

func newStatsCmd(g *globals) *cobra.Command {
	var noStream bool
	cmd := &cobra.Command{
		Use:   "stats [SERVICE...]",
		Short: "Show the services' containers' CPU, memory, network and process counts",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			ctx, stop := signalContext(ctx, nil)
			defer stop()
			cs, err := s.engine.Containers(ctx, s.project, args, false)
			if err != nil {
				return err
			}
			var names []string
			for _, c := range cs {
				names = append(names, c.Name)
			}
			sort.Strings(names)
			clear := !noStream && isTerminal(g.stdout)
			for {
				us := map[string]model.Usage{}
				var (
					mu   sync.Mutex
					wg   sync.WaitGroup
					errs []error
				)
				for _, c := range cs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						u, err := s.rt.StatsOnce(ctx, c.ID)
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							errs = append(errs, err)
							return
						}
						us[c.Name] = u
					}()
				}
				wg.Wait()
				if ctx.Err() != nil {
					return nil // Ctrl-C ends the stream
				}
				if noStream && len(errs) > 0 {
					return errs[0]
				}
				if clear {
					fmt.Fprint(g.stdout, "\x1b[2J\x1b[H")
				}
				usageTable(g, names, us)
				if noStream {
					return nil
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	return cmd
}

func newEventsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "events [SERVICE...]",
		Short: "Stream the engine's events about the project's containers",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			ctx, stop := signalContext(ctx, nil)
			defer stop()
			want := map[string]bool{}
			for _, a := range args {
				want[a] = true
			}
			evs, errs := s.rt.AllEvents(ctx, s.project.Name)
			// Each event goes out as it comes: a script reading the pipe
			// sees it without waiting for a buffer to fill.
			out := g.stdout
			for ev := range evs {
				if len(want) > 0 && !want[ev.Service] {
					continue
				}
				if asJSON {
					b, _ := json.Marshal(composeEvent(ev))
					fmt.Fprintf(out, "%s\n", b)
				} else {
					fmt.Fprint(out, eventLine(ev))
				}
			}
			if err := <-errs; err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object a line, with Compose's keys")
	return cmd
}

// composeEventJSON is Compose's shape of `events --json`.
type composeEventJSON struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Service    string            `json:"service"`
	ID         string            `json:"id"`
	Action     string            `json:"action"`
	Attributes map[string]string `json:"attributes"`
}

// eventAttributes are the engine's attributes less Compose's own labels,
// which say what the service field already says.
func eventAttributes(ev engine.ContainerEvent) map[string]string {
	out := map[string]string{}
	for k, v := range ev.Attributes {
		if !strings.HasPrefix(k, "com.docker.compose.") {
			out[k] = v
		}
	}
	return out
}

func composeEvent(ev engine.ContainerEvent) composeEventJSON {
	return composeEventJSON{Time: ev.Time, Type: "container", Service: ev.Service, ID: ev.ID, Action: ev.Action, Attributes: eventAttributes(ev)}
}

// eventLine is Compose's text form: time, action, container ID, attributes.
func eventLine(ev engine.ContainerEvent) string {
	attrs := eventAttributes(ev)
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + attrs[k]
	}
	return fmt.Sprintf("%s container %s %s (%s)\n", ev.Time.Format("2006-01-02 15:04:05.000000"), ev.Action, ev.ID, strings.Join(parts, ", "))
}

func newAttachCmd(g *globals) *cobra.Command {
	var (
		index      int
		detachKeys string
		noStdin    bool
		sigProxy   bool
	)
	cmd := &cobra.Command{
		Use:   "attach [flags] SERVICE",
		Short: "Attach the terminal to a service's running container (detach with ctrl-p ctrl-q)",
		Args:  cobra.ExactArgs(1),
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			cs, err := s.engine.Containers(ctx, s.project, args, false)
			if err != nil {
				return err
			}
			var target *model.Container
			for i := range cs {
				if cs[i].Number == index && !cs[i].OneOff {
					target = &cs[i]
				}
			}
			if target == nil {
				return fmt.Errorf("service %q has no running container number %d: start it with `devstack up -d %s`", args[0], index, args[0])
			}
			t, err := openTerminal(g, !noStdin)
			if err != nil {
				return err
			}
			defer t.close()
			o := engine.AttachOptions{Stdout: g.stdout, Stderr: g.stderr, DetachKeys: detachKeys, Resize: t.sizes}
			if !noStdin {
				o.Stdin = g.stdin
			}
			if sigProxy && t.fd == 0 {
				// Without a terminal, Ctrl-C is a signal: hand it to the container.
				stop := forwardSignals(ctx, s.rt, target.ID)
				defer stop()
			}
			detached, err := s.rt.Attach(ctx, target.ID, o)
			if err != nil {
				return err
			}
			if detached {
				fmt.Fprintf(g.stderr, "\r\ndetached from %s (it keeps running)\n", target.Name)
			}
			return nil
		}),
	}
	cmd.Flags().IntVar(&index, "index", 1, "which replica, when the service has several")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "key sequence to detach (default ctrl-p,ctrl-q)")
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach standard input")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "pass the signals devstack receives to the process")
	return cmd
}

// forwardSignals sends SIGINT and SIGTERM that devstack receives to the
// container, until stop is called.
func forwardSignals(ctx context.Context, rt interface {
	KillContainer(ctx context.Context, id, signal string) error
}, id string) func() {
	ch := make(chan os.Signal, 2)
	notifySignals(ch)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				_ = rt.KillContainer(context.WithoutCancel(ctx), id, signalName(sig))
			case <-done:
				return
			}
		}
	}()
	return func() { stopSignals(ch); close(done) }
}

func newCpCmd(g *globals) *cobra.Command {
	var o engine.CopyOptions
	cmd := &cobra.Command{
		Use:   "cp [flags] SERVICE:SRC_PATH DEST_PATH|-\n  devstack cp [flags] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files between a service's container and the host",
		Args:  cobra.ExactArgs(2),
		RunE: g.withExistingArgs(func(ctx context.Context, s *session, args []string) error {
			src, dst := engine.ParseCopySpec(args[0]), engine.ParseCopySpec(args[1])
			for _, side := range []engine.CopySpec{src, dst} {
				if side.Service != "" {
					if err := engine.CheckServices(s.project, []string{side.Service}); err != nil {
						return err
					}
				}
			}
			if g.dryRun {
				fmt.Fprintf(g.stdout, "copy %s to %s\n", args[0], args[1])
				return nil
			}
			o.Stdin, o.Stdout = g.stdin, g.stdout
			return s.engine.Copy(ctx, s.project, src, dst, o)
		}),
	}
	cmd.Flags().BoolVarP(&o.Archive, "archive", "a", false, "archive mode: keep owners (uid/gid)")
	cmd.Flags().BoolVarP(&o.FollowLink, "follow-link", "L", false, "follow a symbolic link given as the source")
	cmd.Flags().IntVar(&o.Index, "index", 0, "which replica (default: replica 1 copying out, every replica copying in)")
	cmd.Flags().BoolVar(&o.OneOff, "all", false, "include the containers of `run`")
	return cmd
}
