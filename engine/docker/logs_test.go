package docker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

type logLine struct {
	stream, line string
	t            time.Time
}

func collect(lines *[]logLine) func(stream, line string, t time.Time) {
	return func(stream, line string, t time.Time) { *lines = append(*lines, logLine{stream, line, t}) }
}

func stamp(sec int) (time.Time, string) {
	t := time.Date(2026, 11, 23, 10, 0, sec, 123456789, time.UTC)
	return t, t.Format("2006-01-02T15:04:05.000000000Z07:00") + " "
}

func frame(stream byte, payload string) []byte {
	hdr := make([]byte, 8, 8+len(payload))
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	return append(hdr, payload...)
}

func TestMuxedLogDemuxesInOrder(t *testing.T) {
	t1, s1 := stamp(1)
	t2, s2 := stamp(2)
	t3, s3 := stamp(3)
	var in bytes.Buffer
	in.Write(frame(1, s1+"out one\n"))
	in.Write(frame(2, s2+"err one\n"))
	in.Write(frame(1, s3+"no newline at the end"))
	var got []logLine
	if err := readMuxedLog(&in, collect(&got)); err != nil {
		t.Fatal(err)
	}
	want := []logLine{{"stdout", "out one", t1}, {"stderr", "err one", t2}, {"stdout", "no newline at the end", t3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// The engine cuts a long line into 16 KiB messages, each with its own
// timestamp; they must be joined, the inner timestamps dropped.
func TestMuxedLogJoinsPartialMessages(t *testing.T) {
	t1, s1 := stamp(1)
	_, s2 := stamp(2)
	_, s3 := stamp(3)
	_, s4 := stamp(4)
	a := strings.Repeat("a", partialSize)
	b := strings.Repeat("b", partialSize)
	var in bytes.Buffer
	in.Write(frame(1, s1+a))
	in.Write(frame(2, s4+"interleaved\n"))
	in.Write(frame(1, s2+b))
	in.Write(frame(1, s3+"end\n"))
	var got []logLine
	if err := readMuxedLog(&in, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d lines", len(got))
	}
	if got[0].line != "interleaved" || got[1].line != a+b+"end" || !got[1].t.Equal(t1) {
		t.Errorf("long line not joined: len %d, time %v", len(got[1].line), got[1].t)
	}
}

func TestMuxedLogEngineError(t *testing.T) {
	in := bytes.NewReader(frame(3, "log driver failed"))
	err := readMuxedLog(in, func(string, string, time.Time) {})
	if err == nil || !strings.Contains(err.Error(), "log driver failed") {
		t.Errorf("err = %v", err)
	}
}

func TestRawLogSplitsAndJoins(t *testing.T) {
	t1, s1 := stamp(1)
	t2, s2 := stamp(2)
	_, s3 := stamp(3)
	long := strings.Repeat("x", partialSize)
	in := strings.NewReader(s1 + "hello\r\n" + s2 + long + s3 + "tail\r\n" + s3 + "partial")
	var got []logLine
	if err := readRawLog(in, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d lines: %v", len(got), got)
	}
	if got[0].line != "hello" || !got[0].t.Equal(t1) {
		t.Errorf("line 0 = %v", got[0])
	}
	if got[1].line != long+"tail" || !got[1].t.Equal(t2) {
		t.Errorf("line 1: len %d, time %v", len(got[1].line), got[1].t)
	}
	if got[2].line != "partial" || got[2].stream != "stdout" {
		t.Errorf("line 2 = %v", got[2])
	}
}

func TestOverlongLineIsCutNotLost(t *testing.T) {
	var got []logLine
	_, s := stamp(1)
	body := strings.Repeat("y", maxLine+10)
	var in bytes.Buffer
	for off := 0; off < len(body); off += partialSize {
		in.Write(frame(1, s+body[off:min(off+partialSize, len(body))]))
	}
	in.Write(frame(1, s+"\n"))
	if err := readMuxedLog(&in, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].line) != maxLine || got[1].line != strings.Repeat("y", 10) {
		t.Errorf("got %d lines, first %d bytes", len(got), len(got[0].line))
	}
}

func TestSplitTimestamp(t *testing.T) {
	if _, rest, ok := splitTimestamp([]byte("not a stamp here")); ok || string(rest) != "not a stamp here" {
		t.Error("text without a timestamp must pass unchanged")
	}
	want := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600))
	ts, rest, ok := splitTimestamp([]byte("2026-01-02T03:04:05.000000006+01:00 x"))
	if !ok || !ts.Equal(want) || string(rest) != "x" {
		t.Errorf("got %v %q %v", ts, rest, ok)
	}
}
