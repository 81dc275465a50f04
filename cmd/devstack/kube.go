package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/klog/v2"

	"devstack/cmd/devstack/render"
	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/load"
	"devstack/engine/model"
	"devstack/tui"
)

// kubeFlags select a Kubernetes cluster instead of the Docker engine.
type kubeFlags struct {
	context   string
	namespace string
	registry  string
}

// kubeProject decides whether a command runs on a cluster: --kube-context
// (or --namespace) was given, or the compose file says
// x-devstack.runtime: kubernetes. The project it loaded is kept for the
// command's next load, so the file is read once either way.
func (g *globals) kubeProject(ctx context.Context, services []string) (*model.Project, bool, error) {
	p, err := g.project(ctx, services)
	g.preloaded = &preloaded{p: p, err: err, services: strings.Join(services, ",")}
	flagged := g.kube.context != "" || g.kube.namespace != ""
	var notFound *load.NotFoundError
	switch {
	case err != nil && flagged && errors.As(err, &notFound) && g.nameWithoutFile() != "":
		// down/ps/logs -p NAME without a file: the project lives on in
		// the cluster's labels.
		return &model.Project{Name: g.nameWithoutFile()}, true, nil
	case err != nil:
		return nil, flagged, err
	}
	return p, flagged || p.Ext.Runtime == model.RuntimeKubernetes, nil
}

type preloaded struct {
	p        *model.Project
	err      error
	services string
}

var quietKlog sync.Once

// connectKube connects to the cluster the flags, the file and the
// kubeconfig name.
func (g *globals) connectKube(ctx context.Context, p *model.Project) (*kube.Cluster, error) {
	quietKlog.Do(func() {
		// client-go logs what it also returns (and, when a stream's
		// context ends, "Copying stdin failed") through klog to stderr,
		// which would write over the dashboard: devstack reports errors itself.
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
	})
	ns := g.kube.namespace
	if ns == "" {
		ns = p.Ext.Namespace
	}
	return kube.Connect(ctx, kube.Options{Context: g.kube.context, Namespace: ns}, p.Name)
}

// notOnKube is the answer of commands a cluster has no meaning for.
func notOnKube(command, why string) error {
	return fmt.Errorf("%s does not work on a Kubernetes runtime: %s", command, why)
}

// kubeImages builds the services that have a build: section with the
// local engine, pushes them to the registry and returns their references
// by digest. An image already pushed as built is not pushed again.
func (g *globals) kubeImages(ctx context.Context, p *model.Project, out event.Sink, build bool) (map[string]string, error) {
	registry := g.kube.registry
	if registry == "" {
		registry = p.Ext.Registry
	}
	var built []string
	for _, svc := range p.Services {
		if svc.Build != nil {
			built = append(built, svc.Name)
		}
	}
	if len(built) == 0 {
		return nil, nil
	}
	if registry == "" {
		return nil, fmt.Errorf("service %s is built locally: name a registry the cluster pulls from (--registry HOST[:PORT] or x-devstack.registry)", built[0])
	}
	rt, err := g.runtime(ctx)
	if err != nil {
		return nil, fmt.Errorf("images for the cluster are built with the local engine: %w", err)
	}
	defer rt.Close()
	if err := engine.New(rt, out).BuildImages(ctx, p, built, build, false, false); err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for _, name := range built {
		svc, _ := p.Service(name)
		repo := strings.TrimSuffix(registry, "/") + "/" + p.Name + "-" + name
		digest, err := rt.PushedDigest(ctx, svc.Image, repo)
		if err != nil {
			return nil, err
		}
		if digest == "" {
			start := time.Now()
			out.Publish(event.Progress{Time: start, Kind: event.KindImage, Name: repo, Service: name, Action: "pushing"})
			if digest, err = rt.Push(ctx, svc.Image, repo+":devstack", out); err != nil {
				return nil, fmt.Errorf("service %s: %w", name, err)
			}
			out.Publish(event.Progress{Time: time.Now(), Kind: event.KindImage, Name: repo, Service: name, Action: "pushed", Detail: digest, Duration: time.Since(start).Seconds()})
		}
		refs[name] = repo + "@" + digest
	}
	return refs, nil
}

var _ = (*docker.Runtime)(nil)

// syncedTargets are the container paths sync fills, per service.
func syncedTargets(p *model.Project) map[string][]string {
	out := map[string][]string{}
	for _, svc := range p.Services {
		for _, w := range svc.Watch {
			if w.Target != "" && w.Action != model.WatchRebuild && w.Action != model.WatchRestart {
				out[svc.Name] = append(out[svc.Name], w.Target)
			}
		}
	}
	return out
}

// runKubeUp is up on a cluster: images pushed, objects applied in
// dependency order; attached, it then forwards the published ports to
// localhost, streams every pod's logs and runs live sync until Ctrl-C,
// which leaves the stack running on the cluster (down removes it).
func runKubeUp(ctx context.Context, g *globals, f upFlags, p *model.Project, services []string) error {
	if len(services) > 0 {
		return errors.New("up SERVICE... on a Kubernetes runtime: the whole project is applied; leave out the service names")
	}
	if f.noBuild && f.build {
		return fmt.Errorf("--build and --no-build contradict each other: pick one")
	}
	// On a terminal, attached up is the dashboard, as on the Docker
	// engine: the project is applied while it shows the pods come up.
	if !f.detach && !f.wait && !f.noTUI && (g.progress == "auto" || g.progress == "tty") && isTerminal(g.stdout) {
		c, err := g.connectKube(ctx, p)
		if err != nil {
			return err
		}
		forwards, err := kube.Forwards(p)
		if err != nil {
			return err
		}
		return runKubeDashboard(ctx, g, p, c, kubeDashboardOptions{quit: tui.QuitAsk, tail: -1, forwards: forwards, sync: !f.noSync,
			work: func(ctx context.Context, sink event.Sink) error {
				images, err := g.kubeImages(ctx, p, sink, f.build)
				if err != nil {
					return err
				}
				m, err := c.Up(ctx, p, kube.UpOptions{Images: images, Synced: syncedTargets(p), Timeout: f.waitTimeout}, sink)
				if err != nil {
					return err
				}
				for _, w := range m.Warnings {
					sink.Publish(event.Warning{Time: time.Now(), Message: w.String()})
				}
				return nil
			}})
	}
	out := g.renderer()
	defer out.Close()
	killCtx, stopSignals := signalContext(ctx, nil)
	defer stopSignals()
	ctx = killCtx
	c, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	forwards, err := kube.Forwards(p)
	if err != nil {
		return err
	}
	images, err := g.kubeImages(ctx, p, out, f.build)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	m, err := c.Up(ctx, p, kube.UpOptions{Images: images, Synced: syncedTargets(p), Wait: f.wait, Timeout: f.waitTimeout}, out)
	if err != nil {
		// The error says what the rollback put back ("interrupted; rolled back: …").
		if ctx.Err() != nil {
			return &exitError{code: 130, err: err}
		}
		return &exitError{code: 1, err: err}
	}
	for _, w := range m.Warnings {
		fmt.Fprintln(g.stderr, "warning:", w.String())
	}
	if f.detach || f.wait {
		return nil
	}
	// Attached: ports, logs and sync until Ctrl-C.
	errs := make(chan error, len(forwards)+2)
	for _, fw := range forwards {
		ready := make(chan net.Addr, 1)
		go func() { errs <- c.PortForward(ctx, p.Name, fw, ready) }()
		select {
		case <-ready:
			fmt.Fprintf(g.stderr, "forwarding %s to service %s\n", fw, fw.Service)
		case err := <-errs:
			return &exitError{code: 1, err: err}
		}
	}
	go func() {
		errs <- c.Logs(ctx, p.Name, kube.LogOptions{Follow: true, Tail: -1}, func(l kube.LogLine) {
			out.Publish(event.Log{Time: l.Time, Service: l.Service, Container: l.Pod, Line: l.Line, Stream: "stdout"})
		})
	}()
	if !f.noSync && hasWatchRules(p, nil) {
		go func() {
			if err := runKubeSync(ctx, c, p, nil, out); err != nil && ctx.Err() == nil {
				out.Publish(event.Warning{Time: time.Now(), Message: "live sync stopped: " + err.Error()})
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errs:
		if err != nil && ctx.Err() == nil {
			return &exitError{code: 1, err: err}
		}
		<-ctx.Done()
	}
	fmt.Fprintf(g.stderr, "the stack keeps running on %s in namespace %s: devstack down removes it\n", c.Host(), c.Namespace())
	return nil
}

func runKubeDown(ctx context.Context, g *globals, p *model.Project, volumes bool) error {
	c, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	out := g.renderer()
	defer out.Close()
	return c.Down(ctx, p.Name, kube.DownOptions{Volumes: volumes}, out)
}

// runKubePs lists the project's pods: service, phase, readiness,
// restarts, node, and the ports up forwards to localhost.
func runKubePs(ctx context.Context, g *globals, p *model.Project, services []string, format string) error {
	c, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	pods, err := c.Pods(ctx, p.Name, "")
	if err != nil {
		return err
	}
	ports := map[string]string{}
	svcs, err := c.Services(ctx, p.Name)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if v := s.Annotations[kube.AnnotationPorts]; v != "" {
			ports[s.Labels[model.LabelService]] = v
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var entries []psEntry
	for _, pod := range pods {
		svc := pod.Labels[model.LabelService]
		if len(services) > 0 && !contains(services, svc) {
			continue
		}
		e := psEntry{Service: svc, Name: pod.Name, ID: string(pod.UID), State: podState(&pod), Image: podImage(&pod), Created: pod.CreationTimestamp.Time}
		for _, cs := range pod.Status.ContainerStatuses {
			e.Restarts += int(cs.RestartCount)
			if cs.Ready {
				e.Health = model.HealthHealthy
			}
		}
		if v := ports[svc]; v != "" {
			e.Ports = strings.Split(v, ",")
		}
		entries = append(entries, e)
	}
	switch format {
	case "json":
		return printFormatted(g.stdout, "json", entries, nil)
	case "table", "":
	default:
		return fmt.Errorf("unknown --format %q: use table or json", format)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tSTATUS\tREADY\tRESTARTS\tNODE\tPORTS")
	for i, e := range entries {
		ready := "no"
		if e.Health == model.HealthHealthy {
			ready = "yes"
		}
		node := ""
		for _, pod := range pods {
			if pod.Name == entries[i].Name {
				node = pod.Spec.NodeName
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Name, e.Service, e.State, ready, e.Restarts, node, strings.Join(e.Ports, ", "))
	}
	return tw.Flush()
}

func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
	}
	return strings.ToLower(string(p.Status.Phase))
}

func podImage(p *corev1.Pod) string {
	if len(p.Spec.Containers) > 0 {
		return p.Spec.Containers[0].Image
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// kubeTail reads --tail for the cluster's log API: a number of lines,
// or -1 for all ("all" or empty).
func kubeTail(v string) (int64, error) {
	n := int64(-1)
	if v != "" && v != "all" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			return 0, fmt.Errorf("--tail %q: give a number or all", v)
		}
	}
	return n, nil
}

func runKubeLogs(ctx context.Context, g *globals, p *model.Project, services []string, follow bool, tail string, out event.Sink) error {
	c, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	n, err := kubeTail(tail)
	if err != nil {
		return err
	}
	return c.Logs(ctx, p.Name, kube.LogOptions{Services: services, Follow: follow, Tail: n}, func(l kube.LogLine) {
		out.Publish(event.Log{Time: l.Time, Service: l.Service, Container: l.Pod, Line: l.Line, Stream: "stdout"})
	})
}

var _ = render.NewPlain

// routeKube sends the commands of a project that runs on a cluster to
// their Kubernetes versions; the rest keep the Docker engine, or say why
// a cluster has no meaning for them.
func routeKube(g *globals, root *cobra.Command) {
	for _, cmd := range root.Commands() {
		name := cmd.Name()
		if cmd.RunE == nil || localCommands[name] {
			continue
		}
		handler, ok := kubeCommands[name]
		if !ok {
			handler = func(context.Context, *globals, *cobra.Command, *model.Project, []string) error {
				return notOnKube(name, "not done for clusters yet")
			}
		}
		docker := cmd.RunE
		cmd.RunE = func(c *cobra.Command, args []string) error {
			var services []string
			if name == "up" {
				services = args
			}
			p, on, err := g.kubeProject(c.Context(), services)
			if !on {
				return docker(c, args) // its own load reports err, once
			}
			if err != nil {
				return err
			}
			return handler(c.Context(), g, c, p, args)
		}
	}
}

// localCommands need no runtime, or only the local engine (builds).
var localCommands = map[string]bool{"config": true, "version": true, "init": true, "completion": true, "help": true,
	"build": true, "pull": true, "sync": true, "ls": true, "images": true}

type kubeHandler func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error

var kubeCommands = map[string]kubeHandler{
	"up": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		fl := c.Flags()
		var f upFlags
		f.detach, _ = fl.GetBool("detach")
		f.wait, _ = fl.GetBool("wait")
		f.waitTimeout, _ = fl.GetDuration("wait-timeout")
		f.build, _ = fl.GetBool("build")
		f.noBuild, _ = fl.GetBool("no-build")
		f.noSync, _ = fl.GetBool("no-sync")
		f.noTUI, _ = fl.GetBool("no-tui")
		return runKubeUp(ctx, g, f, p, args)
	},
	"down": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		v, _ := c.Flags().GetBool("volumes")
		return runKubeDown(ctx, g, p, v)
	},
	"ps": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		format, _ := c.Flags().GetString("format")
		return runKubePs(ctx, g, p, args, format)
	},
	"logs": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		if err := engine.CheckServices(p, args); err != nil && len(p.Services) > 0 {
			return err
		}
		follow, _ := c.Flags().GetBool("follow")
		tail, _ := c.Flags().GetString("tail")
		timestamps, _ := c.Flags().GetBool("timestamps")
		noPrefix, _ := c.Flags().GetBool("no-log-prefix")
		var out event.Sink
		if g.progress == "json" {
			out = render.NewJSON(g.stdout)
		} else {
			plain := render.NewPlain(g.stdout, g.stderr, !g.noColor && isTerminal(g.stdout))
			out = &logLines{plain: plain, timestamps: timestamps, noPrefix: noPrefix, g: g}
		}
		ctx, stop := signalContext(ctx, nil)
		defer stop()
		err := runKubeLogs(ctx, g, p, args, follow, tail, out)
		if ctx.Err() != nil {
			return nil
		}
		return err
	},
	"exec": runKubeExec,
	"restart": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		cl, err := g.connectKube(ctx, p)
		if err != nil {
			return err
		}
		return cl.Restart(ctx, p.Name, args)
	},
	"start": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		return runKubeScale(ctx, g, p, args, true)
	},
	"stop": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		return runKubeScale(ctx, g, p, args, false)
	},
	"run": runKubeRun,
	"ui": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		if err := engine.CheckServices(p, args); err != nil {
			return err
		}
		quit, err := quitBehaviour(c.Flags().Lookup("on-quit").Value.String())
		if err != nil {
			return err
		}
		tail, err := kubeTail(c.Flags().Lookup("tail").Value.String())
		if err != nil {
			return err
		}
		cl, err := g.connectKube(ctx, p)
		if err != nil {
			return err
		}
		var forwards []kube.Forward
		if noForward, _ := c.Flags().GetBool("no-forward"); !noForward {
			if forwards, err = kube.Forwards(p); err != nil {
				return err
			}
		}
		return runKubeDashboard(ctx, g, p, cl, kubeDashboardOptions{services: args, quit: quit, tail: tail, forwards: forwards})
	},
	"scratch": runKubeScratch,
	"watch": func(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
		cl, err := g.connectKube(ctx, p)
		if err != nil {
			return err
		}
		out := g.renderer()
		defer out.Close()
		ctx, stop := signalContext(ctx, nil)
		defer stop()
		err = runKubeSync(ctx, cl, p, args, out)
		if ctx.Err() != nil {
			return nil
		}
		return err
	},
}

func runKubeExec(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
	if len(args) < 2 {
		return errors.New("exec needs a service and a command")
	}
	fl := c.Flags()
	index, _ := fl.GetInt("index")
	user, _ := fl.GetString("user")
	workdir, _ := fl.GetString("workdir")
	env, _ := fl.GetStringArray("env")
	noTTY, _ := fl.GetBool("no-tty")
	if user != "" {
		return notOnKube("exec --user", "the cluster's exec API runs the command as the container's user and has no way to switch users; "+
			"set `user:` on the service (its pods then run as that user), or switch inside the pod: devstack exec "+args[0]+" su USER -c 'COMMAND'")
	}
	cl, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	pods, err := cl.RunningPods(ctx, p.Name, args[0])
	if err != nil {
		return err
	}
	if index < 1 || index > len(pods) {
		return fmt.Errorf("service %q has no running pod number %d (it has %d)", args[0], index, len(pods))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp) })
	tty := wantTTY(g, noTTY)
	t, err := openTerminal(g, tty)
	if err != nil {
		return err
	}
	defer t.close()
	code, err := cl.Exec(ctx, pods[index-1].Name, kube.ExecOptions{Cmd: args[1:], WorkDir: workdir, Env: env, Tty: tty,
		Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr, Resize: sizeQueue(t.sizes)})
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// runKubeScale is stop and start on a cluster, as a Kubernetes user means
// them: stop scales the services' Deployments (all when none is named) to
// 0, keeping claims, Services, configs and secrets; start scales them back
// to the replicas they had (the compose file's, or a count set since with
// kubectl scale).
func runKubeScale(ctx context.Context, g *globals, p *model.Project, services []string, start bool) error {
	if err := engine.CheckServices(p, services); err != nil && len(p.Services) > 0 {
		return err
	}
	c, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	out := g.renderer()
	defer out.Close()
	if start {
		return c.Start(ctx, p.Name, services, out)
	}
	return c.Stop(ctx, p.Name, services, out)
}

// sizeQueue hands terminal sizes to the cluster's exec.
type sizeQueue chan engine.TermSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	if q == nil {
		return nil
	}
	s, ok := <-q
	if !ok {
		return nil
	}
	return &remotecommand.TerminalSize{Width: uint16(s.Width), Height: uint16(s.Height)}
}

// runKubeScratch is scratch on a cluster: the project comes up in a
// namespace of its own on the same cluster (empty claims, none of the
// user's objects), which is removed after. Exit status as on the Docker
// engine: 0 passed, 1 failed, 2 could not run.
func runKubeScratch(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
	fl := c.Flags()
	for _, f := range []string{"every", "cron", "on-fail"} {
		if fl.Changed(f) {
			return &exitError{code: 2, err: notOnKube("scratch --"+f, "scheduled rebuilds run on the Docker engine only so far; run scratch now")}
		}
	}
	asJSON, _ := fl.GetBool("json")
	keep, _ := fl.GetBool("keep")
	timeout, _ := fl.GetDuration("timeout")
	if timeout == 0 {
		timeout = p.Ext.Scratch.Timeout
	}
	ctx, stop := signalContext(ctx, nil)
	defer stop()
	out := g.renderer()
	defer out.Close()
	cl, err := g.connectKube(ctx, p)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	images, err := g.kubeImages(ctx, p, out, true)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	res, err := cl.Scratch(ctx, p, kube.ScratchOptions{Images: images, Timeout: timeout, Keep: keep}, out)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: 130, err: errors.New("interrupted: the scratch namespace was removed")}
		}
		return &exitError{code: 2, err: err}
	}
	kept := "removed"
	if keep {
		kept = "kept (kubectl delete namespace " + res.Namespace + " removes it)"
	}
	if asJSON {
		_ = printFormatted(g.stdout, "json", map[string]any{"project": p.Name, "namespace": res.Namespace, "passed": res.Passed,
			"failure": res.Failure, "took_s": res.Took.Seconds(), "kept": keep}, nil)
	} else if res.Passed {
		fmt.Fprintf(g.stdout, "scratch rebuild of %s in namespace %s: came up from scratch in %.1fs; namespace %s\n", p.Name, res.Namespace, res.Took.Seconds(), kept)
	} else {
		fmt.Fprintf(g.stdout, "scratch rebuild of %s in namespace %s: did not come up from scratch: %s; namespace %s\n", p.Name, res.Namespace, res.Failure, kept)
	}
	if !res.Passed {
		return &exitError{code: 1}
	}
	return nil
}

// runKubeRun is run on a cluster: a one-off pod made from the service's
// Deployment as up applied it, attached here, its exit code devstack's.
func runKubeRun(ctx context.Context, g *globals, c *cobra.Command, p *model.Project, args []string) error {
	if len(args) < 1 {
		return errors.New("run needs a service")
	}
	if err := engine.CheckServices(p, args[:1]); err != nil {
		return err
	}
	fl := c.Flags()
	if fl.Changed("user") {
		return notOnKube("run --user", "a one-off pod runs as the service's Deployment says; set `user:` on the service (runAsUser) and up, or switch inside: su USER -c 'COMMAND'")
	}
	for _, f := range []string{"name", "service-ports", "volume", "publish", "label", "cap-add", "cap-drop", "detach"} {
		if fl.Changed(f) {
			return notOnKube("run --"+f, "a one-off pod takes the service's Deployment as it is; leave --"+f+" out")
		}
	}
	rm, _ := fl.GetBool("rm")
	workdir, _ := fl.GetString("workdir")
	env, _ := fl.GetStringArray("env")
	noTTY, _ := fl.GetBool("no-tty")
	entrypoint, _ := fl.GetString("entrypoint")
	var ep []string
	if entrypoint != "" {
		ep = []string{entrypoint}
	}
	cl, err := g.connectKube(ctx, p)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(ctx, nil)
	defer stop()
	tty := wantTTY(g, noTTY)
	o := kube.RunOptions{Cmd: args[1:], Entrypoint: ep, Env: env, WorkDir: workdir, Tty: tty, Stdout: g.stdout, Stderr: g.stderr, Remove: rm}
	if tty || isTerminalReader(g.stdin) {
		t, err := openTerminal(g, tty)
		if err != nil {
			return err
		}
		defer t.close()
		o.Stdin, o.Resize = g.stdin, sizeQueue(t.sizes)
	}
	code, err := cl.Run(ctx, p.Name, args[0], o)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}
