package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
)

// Logs streams a container's output, calling fn once per line, in the
// order the engine sent them. Timestamps are always asked of the engine:
// they fill t and are stripped from the line. A line the engine split
// into 16 KiB pieces is joined again; a line longer than maxLine is
// delivered in maxLine pieces; a last line without a newline is
// delivered at the end. Logs returns nil when ctx ends.
func (r *Runtime) Logs(ctx context.Context, id string, o engine.LogOptions, fn func(stream, line string, t time.Time)) error {
	insp, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return r.engineError(err)
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: o.Follow, Tail: o.Tail, Timestamps: true}
	if !o.Since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", o.Since.Unix(), o.Since.Nanosecond())
	}
	if !o.Until.IsZero() {
		opts.Until = fmt.Sprintf("%d.%09d", o.Until.Unix(), o.Until.Nanosecond())
	}
	rc, err := r.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		return r.engineError(err)
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	tty := insp.Container.Config != nil && insp.Container.Config.Tty
	if tty {
		err = readRawLog(rc, fn)
	} else {
		err = readMuxedLog(rc, fn)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

const (
	// maxLine bounds the memory one line may take.
	maxLine = 1 << 20
	// partialSize is where the engine's log drivers cut a long line.
	partialSize = 16 * 1024
)

// lineJoiner turns one stream's log messages into lines.
type lineJoiner struct {
	stream string
	fn     func(stream, line string, t time.Time)
	buf    []byte
	ts     time.Time // the time of the line's first piece
}

// message takes one message of the engine, which is a whole line or a
// piece of one.
func (j *lineJoiner) message(ts time.Time, content []byte) {
	for len(content) > 0 {
		if len(j.buf) == 0 {
			j.ts = ts
		}
		i := bytes.IndexByte(content, '\n')
		if i < 0 {
			j.buf = append(j.buf, content...)
			for len(j.buf) >= maxLine {
				j.fn(j.stream, string(j.buf[:maxLine]), j.ts)
				j.buf = append(j.buf[:0], j.buf[maxLine:]...)
			}
			return
		}
		j.buf = append(j.buf, content[:i]...)
		j.flush()
		content = content[i+1:]
	}
}

// flush delivers what is buffered as a line.
func (j *lineJoiner) flush() {
	line := bytes.TrimSuffix(j.buf, []byte{'\r'})
	j.fn(j.stream, string(line), j.ts)
	j.buf = j.buf[:0]
}

func (j *lineJoiner) end() {
	if len(j.buf) > 0 {
		j.flush()
	}
}

// splitTimestamp cuts the "2006-01-02T15:04:05.000000000Z " prefix the
// engine puts before each message; ok is false when there is none.
func splitTimestamp(b []byte) (time.Time, []byte, bool) {
	n := min(len(b), 40)
	i := bytes.IndexByte(b[:n], ' ')
	if i < 20 {
		return time.Time{}, b, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:i]))
	if err != nil {
		return time.Time{}, b, false
	}
	return t, b[i+1:], true
}

// readMuxedLog reads the multiplexed stream of a container without a
// TTY: frames of an 8-byte header (stream, 0, 0, 0, big-endian size)
// and one message each.
func readMuxedLog(rd io.Reader, fn func(stream, line string, t time.Time)) error {
	joiners := map[byte]*lineJoiner{
		1: {stream: "stdout", fn: fn},
		2: {stream: "stderr", fn: fn},
	}
	defer func() {
		joiners[1].end()
		joiners[2].end()
	}()
	br := bufio.NewReaderSize(rd, 32*1024)
	var hdr [8]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if size > 64<<20 {
			return fmt.Errorf("malformed log stream: a frame of %d bytes", size)
		}
		if cap(payload) < int(size) {
			payload = make([]byte, size)
		}
		payload = payload[:size]
		if _, err := io.ReadFull(br, payload); err != nil {
			return err
		}
		switch hdr[0] {
		case 1, 2:
			ts, content, _ := splitTimestamp(payload)
			joiners[hdr[0]].message(ts, content)
		case 3: // the engine's own error
			return fmt.Errorf("the engine failed to read the logs: %s", bytes.TrimSpace(payload))
		}
	}
}

// readRawLog reads the unframed stream of a TTY container. Messages are
// recognised by their timestamps: at the start of a line, and where the
// engine cut a long line every partialSize bytes.
func readRawLog(rd io.Reader, fn func(stream, line string, t time.Time)) error {
	j := &lineJoiner{stream: "stdout", fn: fn}
	defer j.end()
	br := bufio.NewReaderSize(rd, 64*1024)
	content := make([]byte, 0, partialSize)
	for {
		// A message starts here: take its timestamp.
		ts := time.Time{}
		if head, _ := br.Peek(40); len(head) > 0 {
			if t, rest, ok := splitTimestamp(head); ok {
				ts = t
				_, _ = br.Discard(len(head) - len(rest))
			}
		}
		content = content[:0]
		for {
			b, err := br.ReadByte()
			if err != nil {
				j.message(ts, content)
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			content = append(content, b)
			if b == '\n' {
				break
			}
			if len(content) == partialSize {
				head, _ := br.Peek(40)
				if _, _, ok := splitTimestamp(head); ok {
					break // the engine cut the line here
				}
			}
			if len(content) >= maxLine {
				break
			}
		}
		j.message(ts, content)
	}
}
