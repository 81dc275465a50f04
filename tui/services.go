package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"devstack/engine/event"
)

// row is one line of the services table: a container (a service's
// replica), or a service with no container yet.
type row struct {
	Service   string
	Replica   int // 0: the service has no container yet
	Container string
	ID        string
	State     string // engine state: running, exited, ... ("" when unknown)
	Health    string
	ExitCode  int
	Restarts  int
	StartedAt time.Time
	Ports     []string
	Image     string
	Node      string // the cluster node of a pod ("" on a Docker engine)

	HasStats bool
	NoStats  string // why the runtime has no samples ("no metrics")
	CPU      float64
	Mem      uint64
}

// name is how the row is called in the table and the log prefixes:
// "web-1" for a replica, as compose prints it, or the service's name.
func (r *row) name() string {
	if r.Replica == 0 {
		return r.Service
	}
	return fmt.Sprintf("%s-%d", r.Service, r.Replica)
}

func (r *row) running() bool { return r.State == "running" || r.State == "restarting" }

// servicesPane is the services table: what each container is doing.
type servicesPane struct {
	order    map[string]int // service -> position (Options.Services first)
	rows     []*row         // sorted by service position, then replica
	selected string         // selected row's key; stays put when rows move
	offset   int            // first row shown when rows outnumber the height

	activity map[string]string    // service -> in-progress action ("building")
	lastSync map[string]syncState // service -> its latest sync batch
	// forwards: "service/replica" -> the engine's port -> where it is
	// forwarded here ("127.0.0.1:8080"), or "" when it is not.
	forwards map[string]map[string]string

	keys          keyMap
	width, height int
}

// Update folds container states, stats, progress and sync batches into
// the rows, and moves the selection with the keys.
func (p *servicesPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case event.State:
		p.applyState(msg)
	case event.Stats:
		p.applyStats(msg)
	case event.Progress:
		p.applyProgress(msg)
	case event.Sync:
		p.applySync(msg)
	case event.Forward:
		p.applyForward(msg)
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, p.keys.Up):
			p.move(-1)
		case key.Matches(msg, p.keys.Down):
			p.move(1)
		}
	}
	return nil
}

type syncState struct {
	at    time.Time
	error bool
}

func newServicesPane(services []string, keys keyMap) *servicesPane {
	p := &servicesPane{order: map[string]int{}, activity: map[string]string{}, lastSync: map[string]syncState{}, keys: keys}
	for _, s := range services {
		p.addService(s)
	}
	if len(p.rows) > 0 {
		p.selected = rowKey(p.rows[0])
	}
	return p
}

func rowKey(r *row) string { return fmt.Sprintf("%s\x00%d", r.Service, r.Replica) }

// addService makes sure a service has a position and at least one row.
func (p *servicesPane) addService(s string) {
	if _, ok := p.order[s]; !ok {
		p.order[s] = len(p.order)
	}
	for _, r := range p.rows {
		if r.Service == s {
			return
		}
	}
	p.rows = append(p.rows, &row{Service: s})
	p.sort()
}

func (p *servicesPane) sort() {
	sort.SliceStable(p.rows, func(i, j int) bool {
		a, b := p.rows[i], p.rows[j]
		if a.Service != b.Service {
			return p.order[a.Service] < p.order[b.Service]
		}
		return a.Replica < b.Replica
	})
}

// serviceIndex is the position of a service, used to pick its colour.
func (p *servicesPane) serviceIndex(s string) int {
	if i, ok := p.order[s]; ok {
		return i
	}
	return len(p.order)
}

func (p *servicesPane) find(service string, replica int) *row {
	for _, r := range p.rows {
		if r.Service == service && r.Replica == replica {
			return r
		}
	}
	return nil
}

// applyForward records where a remote engine's port landed here.
func (p *servicesPane) applyForward(e event.Forward) {
	if p.forwards == nil {
		p.forwards = map[string]map[string]string{}
	}
	k := fmt.Sprintf("%s/%d", e.Service, e.Replica)
	if p.forwards[k] == nil {
		p.forwards[k] = map[string]string{}
	}
	if e.Removed {
		delete(p.forwards[k], e.Port)
		return
	}
	p.forwards[k][e.Port] = e.Local
}

// portsText is a row's ports: each forwarded one as its local address.
func (p *servicesPane) portsText(r *row) string {
	fw := p.forwards[fmt.Sprintf("%s/%d", r.Service, r.Replica)]
	if len(fw) == 0 {
		return shortPorts(r.Ports)
	}
	ports := make([]string, len(r.Ports))
	for i, port := range r.Ports {
		local, ok := fw[port]
		_, target, _ := strings.Cut(port, "->")
		switch {
		case !ok:
			ports[i] = port
		case local != "":
			ports[i] = local + "->" + target
		default:
			ports[i] = port + " (not fwd)"
		}
	}
	return shortPorts(ports)
}

// applyState folds a container's new state into its row.
func (p *servicesPane) applyState(e event.State) {
	p.addService(e.Service)
	r := p.find(e.Service, e.Replica)
	if e.State == "removed" {
		// A recreated container's removal can arrive after its successor
		// appeared: only the row's current container may remove it.
		if r != nil && r.ID == e.ID {
			p.removeRow(r)
		}
		return
	}
	if r == nil {
		// The placeholder of a service without containers becomes this one.
		r = &row{Service: e.Service, Replica: e.Replica}
		if ph := p.find(e.Service, 0); ph != nil && e.Replica != 0 {
			if p.selected == rowKey(ph) {
				p.selected = rowKey(r)
			}
			p.deleteRow(ph)
		}
		p.rows = append(p.rows, r)
		p.sort()
	}
	r.Container, r.ID, r.State, r.Health = e.Container, e.ID, e.State, e.Health
	r.ExitCode, r.Restarts, r.StartedAt, r.Ports, r.Node = e.ExitCode, e.Restarts, e.StartedAt, e.Ports, e.Node
	if e.Image != "" {
		r.Image = e.Image
	}
	if !r.running() {
		r.HasStats = false
	}
}

// removeRow drops a row; the last row of a service becomes a placeholder
// so that the service stays listed.
func (p *servicesPane) removeRow(r *row) {
	others := 0
	for _, o := range p.rows {
		if o.Service == r.Service && o != r {
			others++
		}
	}
	if others == 0 {
		*r = row{Service: r.Service, State: "removed", Image: r.Image}
		return
	}
	wasSelected := p.selected == rowKey(r)
	p.deleteRow(r)
	if wasSelected {
		p.selected = rowKey(p.rowsOf(r.Service)[0])
	}
}

func (p *servicesPane) deleteRow(r *row) {
	for i, o := range p.rows {
		if o == r {
			p.rows = append(p.rows[:i], p.rows[i+1:]...)
			return
		}
	}
}

func (p *servicesPane) rowsOf(service string) []*row {
	var out []*row
	for _, r := range p.rows {
		if r.Service == service {
			out = append(out, r)
		}
	}
	return out
}

func (p *servicesPane) applyStats(e event.Stats) {
	for _, r := range p.rows {
		if r.Container == e.Container && r.running() {
			if e.Unavailable != "" {
				r.HasStats, r.NoStats = false, e.Unavailable
				return
			}
			r.HasStats, r.NoStats, r.CPU, r.Mem = true, "", e.CPUPercent, e.MemBytes
			return
		}
	}
}

// applyProgress tracks what the engine is doing to a service, shown in
// the state column until it is done.
func (p *servicesPane) applyProgress(e event.Progress) {
	if e.Service == "" || (e.Kind != event.KindContainer && e.Kind != event.KindImage) {
		return
	}
	p.addService(e.Service)
	switch e.Action {
	case event.Creating, event.Starting, event.Stopping, event.Removing, event.Recreating,
		event.Building, event.Pulling, event.Restarting, event.Waiting:
		p.activity[e.Service] = e.Action
	default:
		delete(p.activity, e.Service)
	}
}

func (p *servicesPane) applySync(e event.Sync) {
	if e.Action == event.SyncWatch {
		return // how files are watched, not a sync
	}
	p.lastSync[e.Service] = syncState{at: e.Time, error: e.Error != ""}
}

// selectedRow is the row the keys act on.
func (p *servicesPane) selectedRow() *row {
	for _, r := range p.rows {
		if rowKey(r) == p.selected {
			return r
		}
	}
	if len(p.rows) > 0 {
		return p.rows[0]
	}
	return nil
}

func (p *servicesPane) selectedIndex() int {
	for i, r := range p.rows {
		if rowKey(r) == p.selected {
			return i
		}
	}
	return 0
}

// move changes the selection by delta rows and keeps it in view.
func (p *servicesPane) move(delta int) {
	if len(p.rows) == 0 {
		return
	}
	i := min(max(p.selectedIndex()+delta, 0), len(p.rows)-1)
	p.selected = rowKey(p.rows[i])
	p.scrollToSelection()
}

func (p *servicesPane) scrollToSelection() {
	body := max(p.height-1, 1)
	i := p.selectedIndex()
	if i < p.offset {
		p.offset = i
	}
	if i >= p.offset+body {
		p.offset = i - body + 1
	}
	p.offset = max(0, min(p.offset, len(p.rows)-body))
}

// SetSize gives the pane its width and height (header included).
func (p *servicesPane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.scrollToSelection()
}

// anyRunning reports whether a service has a running container.
func (p *servicesPane) anyRunning(service string) bool {
	for _, r := range p.rowsOf(service) {
		if r.running() {
			return true
		}
	}
	return false
}

// prefixWidth is the widest row name, for aligning log prefixes.
func (p *servicesPane) prefixWidth() int {
	w := 0
	for _, r := range p.rows {
		w = max(w, len(r.name()))
	}
	return min(w, 24)
}

func (p *servicesPane) summary() (running, total int) {
	for _, r := range p.rows {
		total++
		if r.running() {
			running++
		}
	}
	return running, total
}

// stateText is the state column: an action in progress wins, then the
// engine state with the exit code; health joins in when it has no column.
func (p *servicesPane) stateText(r *row, withHealth bool) string {
	if a, ok := p.activity[r.Service]; ok {
		return a
	}
	switch {
	case r.State == "":
		return "-"
	case r.State == "exited":
		return fmt.Sprintf("exited (%d)", r.ExitCode)
	case r.State == "running" && !withHealth && r.Health != "":
		if r.Health == "starting" {
			return "starting"
		}
		return r.Health
	}
	return r.State
}

func healthText(r *row) string {
	if r.Health == "" || !r.running() {
		return "-"
	}
	return r.Health
}
