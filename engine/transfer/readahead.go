package transfer

import (
	"io"
)

// readAhead reads r in a goroutine, up to ahead blocks of size bytes in
// front of the reader, so that the engine's stream and the writes of the
// files it carries overlap: read in turn, the engine waits while a file
// is written and the disk waits while the engine reads the next. Close
// stops the goroutine (it returns once its read in progress does).
type readAhead struct {
	blocks chan []byte
	free   chan []byte
	done   chan struct{}
	err    error  // set before blocks is closed
	block  []byte // the block being read, whole
	cur    []byte // what of it is left to read
}

func newReadAhead(r io.Reader, size, ahead int) *readAhead {
	ra := &readAhead{blocks: make(chan []byte, ahead), free: make(chan []byte, ahead+1), done: make(chan struct{})}
	for range ahead + 1 {
		ra.free <- make([]byte, size)
	}
	go func() {
		defer close(ra.blocks)
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.done:
				ra.err = io.ErrClosedPipe
				return
			}
			n, err := io.ReadFull(r, buf[:cap(buf)])
			if n > 0 {
				select {
				case ra.blocks <- buf[:n]:
				case <-ra.done:
					ra.err = io.ErrClosedPipe
					return
				}
			}
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.block != nil {
			ra.free <- ra.block
			ra.block = nil
		}
		b, ok := <-ra.blocks
		if !ok {
			return 0, ra.err
		}
		ra.block, ra.cur = b[:cap(b)], b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops reading ahead.
func (ra *readAhead) Close() {
	select {
	case <-ra.done:
	default:
		close(ra.done)
	}
}
