package transfer

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadAhead: what comes out is what went in, however the source
// and the reader cut it, and the source's error follows its data.
func TestReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefghij"), 10007)
	ra := newReadAhead(iotest.HalfReader(bytes.NewReader(data)), 4096, 3)
	defer ra.Close()
	got, err := io.ReadAll(iotest.OneByteReader(ra))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want the %d written", len(got), err, len(data))
	}

	broken := errors.New("the engine hung up")
	ra2 := newReadAhead(io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(broken)), 4096, 2)
	defer ra2.Close()
	got, err = io.ReadAll(ra2)
	if !errors.Is(err, broken) || !bytes.Equal(got, data[:5000]) {
		t.Fatalf("read %d bytes then %v, want 5000 then %v", len(got), err, broken)
	}

	// Closed early, the goroutine stops and reading says so.
	ra3 := newReadAhead(bytes.NewReader(data), 1024, 1)
	ra3.Close()
	if _, err := io.ReadAll(ra3); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("after Close: %v", err)
	}
}
