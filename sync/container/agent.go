package container

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"devstack/sync/manifest"
)

// ErrNoAgent means the container lacks what the exec transport needs
// (a shell, tar, dd, xargs, find, stat): use the archive transport.
var ErrNoAgent = errors.New("the container has no shell with tar, dd, xargs, find and stat")

// agentScript runs in the container as one long-lived exec. Requests come
// on stdin as a line naming the operation followed by framed data:
// "C <n>\n" and n bytes, repeated, then "E\n". dd reads each frame's exact
// size (tar alone would swallow what follows its archive), and whatever
// the consumer leaves unread is drained, so one failed request cannot
// desynchronise the next. Every request ends with a line "<marker> <op>
// <status>" on stdout; the lines before it are the request's output.
//
// Writes and deletions (T, R, TZ, RZ, D) name on their first line how
// many directories follow, one a line, that must not be symlinks: a
// process in the container may have swapped a synced directory for a
// link to /etc, and tar and rm would follow it. When one is, the request
// is refused whole (status 4, one "symlink <path>" line each) before
// anything is written. The check is the shell's own test: no process is
// started for it, so it costs nothing next to the batch.
const agentScript = `M=%s
frames() { while IFS=' ' read -r k n; do [ "$k" = C ] || return 0; dd bs=65536 count="$n" iflag=fullblock,count_bytes 2>/dev/null; done; }
for t in tar dd xargs find stat rm; do command -v $t >/dev/null 2>&1 || exit 3; done
[ "$(printf abc | dd bs=2 count=3 iflag=fullblock,count_bytes 2>/dev/null)" = abc ] || exit 3
[ "$(printf 'a b\0c' | xargs -0 echo 2>/dev/null)" = "a b c" ] || exit 3
Z=0; [ "$(printf x | gzip -c 2>/dev/null | gzip -dc 2>/dev/null)" = x ] && Z=1
echo "$M ready $Z"
while IFS=' ' read -r op n; do
  case "$op" in
  T|R|TZ|RZ|D) g=; i=0; while [ "$i" -lt "${n:-0}" ]; do IFS= read -r d; i=$((i+1)); case "$d" in E\ *) d=$(printf '%%b' "${d#E }");; *) d=${d#P };; esac; if [ -L "$d" ]; then echo "symlink $d"; g=1; fi; done
    if [ -n "$g" ]; then frames >/dev/null; echo "$M $op 4"; continue; fi;;
  esac
  case "$op" in
  T) frames | { tar -xf - -C / 2>&1; s=$?; cat >/dev/null; exit $s; }; echo "$M T $?";;
  R) frames | { tar -xof - -C / 2>&1; s=$?; cat >/dev/null; exit $s; }; echo "$M R $?";;
  TZ) frames | { gzip -dc | tar -xf - -C / 2>&1; s=$?; cat >/dev/null; exit $s; }; echo "$M TZ $?";;
  RZ) frames | { gzip -dc | tar -xof - -C / 2>&1; s=$?; cat >/dev/null; exit $s; }; echo "$M RZ $?";;
  D) frames | { xargs -0 rm -rf -- 2>&1; s=$?; cat >/dev/null; exit $s; }; echo "$M D $?";;
  L) d=$(frames); s=0; if [ -e "$d" ] || [ -L "$d" ]; then find "$d" -exec stat -c '%%f %%s %%Y %%u %%g %%Z %%y %%n' -- {} + 2>/dev/null; s=$?; fi; echo "$M L $s";;
  H) frames | { xargs -0 md5sum 2>/dev/null; cat >/dev/null; }; echo "$M H 0";;
  *) exit 0;;
  esac
done
`

// frameSize is the most bytes sent in one frame (dd's buffer is 64 KiB
// whatever the frame size).
const frameSize = 1 << 20

// Agent is the exec transport: one exec per container for its lifetime.
type Agent struct {
	user   string // who the exec runs as
	marker string
	stdin  *io.PipeWriter
	lines  chan string   // stdout, line by line; closed when the exec ends
	done   chan struct{} // closed when the exec ended
	cancel context.CancelFunc

	mu     sync.Mutex // one request at a time
	frame  []byte     // the framing buffer, reused; guarded by mu
	gzip   bool       // the container has gzip: batches may come compressed
	exit   int        // guarded by done
	err    error      // guarded by done
	broken error      // set once a request failed half-way; guarded by mu
}

// StartAgent starts the exec transport in container id, as root. It
// returns ErrNoAgent (wrapped) when the image lacks the tools.
func StartAgent(ctx context.Context, api API, id string) (*Agent, error) {
	return StartAgentAs(ctx, api, id, rootUser)
}

// StartAgentAs starts the exec transport as user ("uid:gid"): whatever
// it writes or deletes, it can only where that user could (and files are
// that user's, never chowned).
func StartAgentAs(ctx context.Context, api API, id, user string) (*Agent, error) {
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	a := &Agent{
		user:   user,
		marker: "@@devstack-sync-" + hex.EncodeToString(nonce),
		lines:  make(chan string, 256),
		done:   make(chan struct{}),
	}
	// The exec lives until Close, independently of the caller's ctx.
	execCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a.stdin = inW
	var stderr tail
	go func() {
		code, err := api.Exec(execCtx, id, ExecSpec{
			Cmd:    []string{"sh", "-c", fmt.Sprintf(agentScript, a.marker)},
			User:   user,
			Stdin:  inR,
			Stdout: outW,
			Stderr: &stderr,
		})
		a.exit, a.err = code, err
		// Unblock a writer whose bytes nobody will read any more.
		inR.CloseWithError(errAgentGone)
		outW.Close()
		close(a.done)
	}()
	go func() {
		defer close(a.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		outR.CloseWithError(errAgentGone)
	}()

	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-a.lines:
			if !ok {
				<-a.done
				a.Close()
				if a.err != nil {
					// The exec could not run at all (the container is not
					// running, the engine is unreachable): not the image's fault.
					return nil, fmt.Errorf("unable to start the sync exec: %w", a.err)
				}
				if a.exit == 3 || a.exit == 126 || a.exit == 127 {
					// 3: the script found a tool missing; 126/127: no shell.
					return nil, fmt.Errorf("%w (exit %d: %s)", ErrNoAgent, a.exit, stderr.String())
				}
				return nil, fmt.Errorf("unable to start the sync exec: exit %d: %s", a.exit, stderr.String())
			}
			if rest, ok := strings.CutPrefix(line, a.marker+" ready"); ok {
				a.gzip = strings.TrimSpace(rest) == "1"
				return a, nil
			}
		case <-timer.C:
			a.Close()
			return nil, fmt.Errorf("%w: no answer within 30s", ErrNoAgent)
		case <-ctx.Done():
			a.Close()
			return nil, ctx.Err()
		}
	}
}

var errAgentGone = errors.New("the sync exec in the container ended")

// Kind names the transport.
func (a *Agent) Kind() string { return "exec" }

// Gzip reports whether the container can take gzipped batches.
func (a *Agent) Gzip() bool { return a.gzip }

// Close ends the exec.
func (a *Agent) Close() {
	a.stdin.Close()
	select {
	case <-a.done:
	case <-time.After(2 * time.Second):
		a.cancel()
		<-a.done
	}
	a.cancel()
}

// Alive reports whether the exec still runs and is in step.
func (a *Agent) Alive() bool {
	select {
	case <-a.done:
		return false
	default:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken == nil
}

// Apply deletes, then extracts the tar stream, each as one request. It
// refuses (with a *manifest.SymlinkError) a deletion or a part that would
// go through a symlink in the container.
func (a *Agent) Apply(ctx context.Context, b Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(b.Delete) > 0 {
		err := a.guarded(ctx, "D", guardDirs(nil, b.Delete), func(w io.Writer) error {
			for _, p := range b.Delete {
				if strings.ContainsRune(p, 0) {
					continue
				}
				if _, err := io.WriteString(w, p+"\x00"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("unable to delete files in the container: %w", err)
		}
	}
	// As root, root-owned entries need no chown, and one fewer call per
	// file counts where creating files is slow (FUSE). As another user,
	// tar cannot chown: the files are that user's anyway.
	op := "T"
	if b.RootOwned || a.user != rootUser {
		op = "R"
	}
	compress := b.Compress && a.gzip
	if compress {
		op += "Z"
	}
	guard := guardDirs(b.Dirs, nil)
	for _, part := range b.Parts {
		if compress {
			part = gzipped(part)
		}
		if err := a.guarded(ctx, op, guard, part); err != nil {
			return fmt.Errorf("unable to copy files into the container: %w", noSpace(err))
		}
	}
	return nil
}

// guarded sends a write or a deletion with the directories that must not
// be symlinks; the agent's refusal becomes a *manifest.SymlinkError.
func (a *Agent) guarded(ctx context.Context, op string, guard []string, payload func(io.Writer) error) error {
	_, err := a.request(ctx, op, guardLines(guard), payload)
	var se *statusError
	if errors.As(err, &se) && se.status == 4 {
		return symlinkError(se.lines)
	}
	return err
}

// guardLines writes the count and the directories, one a line: "P path",
// or "E path" with backslash escapes where the path holds a newline or a
// backslash (the shell reads it back with printf %b).
func guardLines(guard []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, " %d", len(guard))
	for _, d := range guard {
		if strings.ContainsAny(d, "\n\\") {
			b.WriteString("\nE " + strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(d))
		} else {
			b.WriteString("\nP " + d)
		}
	}
	return b.String()
}

// Digest returns the content digests (manifest.DigestOf) of the files at
// paths, absolute container paths; a file it cannot read (gone, no
// md5sum in the image) is left out.
func (a *Agent) Digest(ctx context.Context, paths []string) (map[string]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out, err := a.request(ctx, "H", "", func(w io.Writer) error {
		for _, p := range paths {
			if strings.ContainsRune(p, 0) {
				continue
			}
			if _, err := io.WriteString(w, p+"\x00"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unable to read files in the container: %w", err)
	}
	return parseSums(out), nil
}

// List lists dir through the exec.
func (a *Agent) List(ctx context.Context, dir string) (manifest.Manifest, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out, err := a.request(ctx, "L", "", func(w io.Writer) error {
		_, err := io.WriteString(w, dir)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unable to list %s in the container: %w", dir, err)
	}
	return manifest.ParseListing(strings.NewReader(strings.Join(out, "\n")), dir)
}

// request sends one operation (its line: op, then head) with its framed
// payload sections and returns the output lines before the status line. Any failure other than a non-zero
// status leaves the protocol in an unknown state: the agent is then
// broken and must be replaced.
func (a *Agent) request(ctx context.Context, op, head string, sections ...func(io.Writer) error) ([]string, error) {
	if a.broken != nil {
		return nil, a.broken
	}
	fail := func(err error) ([]string, error) {
		a.broken = err
		a.stdin.CloseWithError(err)
		return nil, err
	}
	// The payload is written while the reply is awaited: a big tar may
	// fill the pipe before the container has read the first frame.
	werr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(a.stdin, 64*1024)
		if a.frame == nil {
			a.frame = make([]byte, 0, frameSize)
		}
		fw := &framer{w: bw, buf: a.frame[:0]}
		err := func() error {
			if _, err := io.WriteString(bw, op+head+"\n"); err != nil {
				return err
			}
			for _, payload := range sections {
				if err := payload(fw); err != nil {
					return err
				}
				if err := fw.flush(); err != nil {
					return err
				}
				if _, err := io.WriteString(bw, "E\n"); err != nil {
					return err
				}
			}
			return bw.Flush()
		}()
		werr <- err
	}()

	var out []string
	prefix := a.marker + " " + op + " "
	wrote := false
	for {
		select {
		case err := <-werr:
			if err != nil {
				return fail(fmt.Errorf("unable to send the request: %w", err))
			}
			wrote = true
			werr = nil
		case line, ok := <-a.lines:
			if !ok {
				<-a.done
				if a.err != nil {
					return fail(fmt.Errorf("%w: %v", errAgentGone, a.err))
				}
				return fail(fmt.Errorf("%w (exit %d)", errAgentGone, a.exit))
			}
			if !strings.HasPrefix(line, prefix) {
				out = append(out, line)
				continue
			}
			if !wrote {
				if err := <-werr; err != nil {
					return fail(fmt.Errorf("unable to send the request: %w", err))
				}
			}
			status, _ := strconv.Atoi(strings.TrimPrefix(line, prefix))
			if status != 0 {
				return nil, &statusError{status: status, lines: out}
			}
			return out, nil
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
}

// statusError is a request the container ran and that failed: the
// protocol is still in step.
type statusError struct {
	status int
	lines  []string // the request's output
}

func (e *statusError) Error() string {
	return fmt.Sprintf("exit status %d: %s", e.status, summary(e.lines))
}

// summary keeps an error message short.
func summary(lines []string) string {
	if len(lines) > 5 {
		lines = append(lines[:5:5], fmt.Sprintf("... (%d more lines)", len(lines)-5))
	}
	return strings.Join(lines, "; ")
}

// framer cuts a stream into "C <n>\n" frames.
type framer struct {
	w   io.Writer
	buf []byte
}

func (f *framer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		room := cap(f.buf) - len(f.buf)
		k := min(room, len(p))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		n += k
		if len(f.buf) == cap(f.buf) {
			if err := f.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (f *framer) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(f.w, "C %d\n", len(f.buf)); err != nil {
		return err
	}
	if _, err := f.w.Write(f.buf); err != nil {
		return err
	}
	f.buf = f.buf[:0]
	return nil
}

// tail keeps the last bytes written to it (an exec's stderr, for errors).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2048 {
		t.buf = t.buf[len(t.buf)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
