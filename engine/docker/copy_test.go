package docker

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"
	"time"
)

// A compressed archive never reaches PUT archive: engines before 29.5.1
// unpack it with a decompressor found inside the container, as root on
// the engine's host. CopyTo refuses it before any call to the engine.
func TestCopyToRefusesACompressedArchive(t *testing.T) {
	r, _ := newTestRuntime(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(make([]byte, 1024))
	_ = zw.Close()
	streams := map[string][]byte{
		"gzip":  gz.Bytes(),
		"bzip2": []byte("BZh91AY&SY\x00\x00"),
		"xz":    {0xfd, '7', 'z', 'X', 'Z', 0x00, 0, 0},
		"zstd":  {0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, b := range streams {
		// The container does not exist: an error naming it would show
		// the stream went to the engine.
		err := r.CopyTo(ctx, "devstack-no-such-container", "/", bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), "compressed") {
			t.Errorf("%s: CopyTo = %v, want a refusal of the compressed archive", name, err)
		}
	}
	// An uncompressed tar still goes (and meets the missing container).
	err := r.CopyTo(ctx, "devstack-no-such-container", "/", bytes.NewReader(make([]byte, 1024)))
	if err == nil || strings.Contains(err.Error(), "compressed") {
		t.Errorf("plain tar: %v, want the engine's answer", err)
	}
}
