package scratch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"devstack/engine/model"
	"devstack/engine/state"
)

// Host checks are the x-devstack.scratch checks with `run:`: commands
// run on this machine with `sh -c`, as the user, not in a container.
// The compose file chooses them, and a compose file can come with a
// cloned repository, so a rebuild runs them only once the user has
// approved them for that file's content. Nothing runs them unasked in
// the background.

// HostChecks says what a rebuild does with host checks not yet approved.
// The zero value skips them (and the report says so).
type HostChecks struct {
	// Approvals remembers the answers; nil remembers nothing.
	Approvals *Approvals
	// Allow runs them, approved on the command line (--allow-host-checks),
	// and remembers the approval.
	Allow bool
	// Ask asks the user (a terminal's y/N) about project's host checks;
	// the answer is remembered. Nil: there is nobody to ask.
	Ask func(project string, checks []model.ScratchCheck) (bool, error)
	// Refuse makes the rebuild fail, before it creates anything, when
	// they are neither approved nor can be asked about (a command line
	// without a terminal); otherwise they are skipped.
	Refuse bool
}

// NotApprovedError is a refusal to run unapproved host checks.
type NotApprovedError struct {
	Project string
	Checks  []model.ScratchCheck
}

func (e *NotApprovedError) Error() string {
	return fmt.Sprintf("%s's x-devstack.scratch checks run commands on this machine, not in a container: %s. "+
		"The compose file chooses these, so devstack runs them only once you approve them: run `devstack scratch` "+
		"in a terminal to be asked, or pass --allow-host-checks (remembered until the compose file changes)",
		e.Project, describeHostChecks(e.Checks))
}

func describeHostChecks(checks []model.ScratchCheck) string {
	var parts []string
	for _, c := range checks {
		if c.Name != "" {
			parts = append(parts, fmt.Sprintf("%q (`%s`)", c.Name, c.Run))
		} else {
			parts = append(parts, fmt.Sprintf("`%s`", c.Run))
		}
	}
	return strings.Join(parts, ", ")
}

// hostChecksOf returns the checks that run on the host.
func hostChecksOf(checks []model.ScratchCheck) []model.ScratchCheck {
	var out []model.ScratchCheck
	for _, c := range checks {
		if c.Run != "" {
			out = append(out, c)
		}
	}
	return out
}

// decide says whether the host checks among checks run; when they do
// not, note says so for the report. A refusal is an error.
func (h HostChecks) decide(p *model.Project, checks []model.ScratchCheck) (run bool, note string, err error) {
	host := hostChecksOf(checks)
	if len(host) == 0 {
		return true, "", nil
	}
	remember := func(allowed bool) error {
		if h.Approvals == nil {
			return nil
		}
		return h.Approvals.Record(p, checks, allowed)
	}
	if h.Allow {
		return true, "", remember(true)
	}
	if h.Approvals != nil {
		decided, allowed, err := h.Approvals.Decision(p, checks)
		if err != nil {
			return false, "", err
		}
		if decided && allowed {
			return true, "", nil
		}
		if decided {
			return false, fmt.Sprintf("host checks not run (declined for this compose file; --allow-host-checks runs them): %s", describeHostChecks(host)), nil
		}
	}
	if h.Ask != nil {
		yes, err := h.Ask(p.Name, host)
		if err != nil {
			return false, "", fmt.Errorf("unable to ask about the host checks: %w", err)
		}
		if err := remember(yes); err != nil {
			return false, "", err
		}
		if !yes {
			return false, fmt.Sprintf("host checks not run (declined): %s", describeHostChecks(host)), nil
		}
		return true, "", nil
	}
	if h.Refuse {
		return false, "", &NotApprovedError{Project: p.Name, Checks: host}
	}
	return false, fmt.Sprintf("host checks not run: not approved (run `devstack scratch` in a terminal to review them): %s", describeHostChecks(host)), nil
}

// Approvals remembers, in a directory of small files, whether the user
// let a project's host checks run. An answer is keyed by a hash of the
// compose files' content, the project directory and the host commands
// themselves, so any edit (or a variable that changes a command) asks
// again.
type Approvals struct {
	dir string
}

// OpenApprovals keeps answers in dir (created on first answer).
func OpenApprovals(dir string) *Approvals { return &Approvals{dir: dir} }

// DefaultApprovals keeps answers under the state directory: host-checks/.
func DefaultApprovals() (*Approvals, error) {
	dir, err := state.Dir()
	if err != nil {
		return nil, err
	}
	return OpenApprovals(filepath.Join(dir, "host-checks")), nil
}

// approval is one answer's file; everything but Allowed is there for a
// person reading it.
type approval struct {
	Project string    `json:"project"`
	Dir     string    `json:"dir"`
	Files   []string  `json:"files"`
	Checks  []string  `json:"checks"`
	Allowed bool      `json:"allowed"`
	Decided time.Time `json:"decided"`
}

// Decision returns the answer recorded for p's host checks among
// checks, if any.
func (a *Approvals) Decision(p *model.Project, checks []model.ScratchCheck) (decided, allowed bool, err error) {
	key, err := approvalKey(p, hostChecksOf(checks))
	if err != nil {
		return false, false, err
	}
	b, err := state.ReadFile(filepath.Join(a.dir, key+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("unable to read the host-check approvals: %w", err)
	}
	var ap approval
	if err := json.Unmarshal(b, &ap); err != nil {
		return false, false, nil // damaged: ask again
	}
	return true, ap.Allowed, nil
}

// Record remembers the answer for p's host checks among checks.
func (a *Approvals) Record(p *model.Project, checks []model.ScratchCheck, allowed bool) error {
	host := hostChecksOf(checks)
	key, err := approvalKey(p, host)
	if err != nil {
		return err
	}
	ap := approval{Project: p.Name, Dir: p.WorkingDir, Files: p.ConfigFiles, Allowed: allowed, Decided: time.Now().UTC()}
	for _, c := range host {
		ap.Checks = append(ap.Checks, c.Run)
	}
	data, err := json.MarshalIndent(ap, "", "  ")
	if err != nil {
		return err
	}
	if err := state.MkdirAll(a.dir); err != nil {
		return fmt.Errorf("unable to remember the host-check answer: %w", err)
	}
	if err := state.WriteFile(filepath.Join(a.dir, key+".json"), append(data, '\n')); err != nil {
		return fmt.Errorf("unable to remember the host-check answer: %w", err)
	}
	return nil
}

// approvalKey hashes what an answer is about: the compose files (path
// and content), the project directory the commands run in, and the
// commands as they will run (after interpolation).
func approvalKey(p *model.Project, host []model.ScratchCheck) (string, error) {
	if len(p.ConfigFiles) == 0 {
		return "", errors.New("unable to tell which compose file the host checks come from")
	}
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field("devstack host checks 1")
	field(p.WorkingDir)
	for _, f := range p.ConfigFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("unable to read %s to check its host checks' approval: %w", f, err)
		}
		field(f)
		field(string(b))
	}
	for _, c := range host {
		field(c.Name)
		field(c.Run)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
