package syncbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	devsync "devstack/sync"
)

// observerScript runs in the container and answers one request at a time:
//
//	W <file> <token>      wait until the file's first line is token
//	N <dir> <n> <file>    wait until dir/file exists and dir holds n entries
//	Z <dir> <file>        wait until dir/file is gone and dir holds no entry
//
// then prints "ok". The checks are shell builtins (read, test, set,
// globbing), and so is the millisecond's nap between two checks where a
// FIFO can be made: a read with a timeout on a FIFO nobody writes to
// (usleep instead costs a fork a millisecond, a fifth of a core taken
// from what is measured). The directory is listed only once the named
// file says the end is near, so the observer does not slow down what it
// measures.
const observerScript = `cd "$1" || exit 2
f=/tmp/.devstack-observer-$$
if mkfifo "$f" 2>/dev/null && exec 3<>"$f"; then rm -f "$f"; nap() { read -t 0.001 -u 3 _; }; else nap() { usleep 1000; }; fi
echo ready
while read -r op a b c; do
  case "$op" in
  W) while :; do l=; IFS= read -r l < "$a" 2>/dev/null; [ "$l" = "$b" ] && break; nap; done;;
  N) while :; do if [ -e "$a/$c" ]; then set -- "$a"/*; [ -e "$1" ] && [ "$#" -eq "$b" ] && break; fi; nap; done;;
  Z) while :; do if [ ! -e "$a/$b" ]; then set -- "$a"/*; [ -e "$1" ] || break; fi; nap; done;;
  *) exit 0;;
  esac
  echo ok
done
`

type observer struct {
	in     *io.PipeWriter
	lines  chan string
	done   chan error
	cancel context.CancelFunc
}

func startObserver(ctx context.Context, env Env) (*observer, error) {
	ctx, cancel := context.WithCancel(ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	o := &observer{in: inW, lines: make(chan string, 16), done: make(chan error, 1), cancel: cancel}
	go func() {
		code, err := env.Exec(ctx, env.ContainerID, devsync.ExecSpec{
			Cmd:    []string{"sh", "-c", observerScript, "observer", env.ContainerDir},
			Stdin:  inR,
			Stdout: outW,
		})
		if err == nil && code != 0 {
			err = fmt.Errorf("the observer exited with %d", code)
		}
		outW.Close()
		inR.CloseWithError(errors.New("observer ended"))
		o.done <- err
	}()
	go func() {
		defer close(o.lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			o.lines <- sc.Text()
		}
	}()
	if _, err := o.next(ctx); err != nil {
		o.close()
		return nil, fmt.Errorf("unable to start the observer in the container (it needs busybox or coreutils with usleep): %w", err)
	}
	return o, nil
}

func (o *observer) ask(req string) error {
	_, err := io.WriteString(o.in, req+"\n")
	return err
}

// wait sends req (when not empty) and returns the time from start until
// the observer answered.
func (o *observer) wait(ctx context.Context, req string, start time.Time) (time.Duration, error) {
	if req != "" {
		if err := o.ask(req); err != nil {
			return 0, err
		}
	}
	if _, err := o.next(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (o *observer) next(ctx context.Context) (string, error) {
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case l, ok := <-o.lines:
		if !ok {
			return "", errors.New("the observer ended")
		}
		return strings.TrimSpace(l), nil
	case <-t.C:
		return "", errors.New("the change never became visible (60s)")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (o *observer) close() {
	o.in.Close()
	o.cancel()
	<-o.done
}
