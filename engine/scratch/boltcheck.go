package scratch

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
)

// checkBolt reads a bbolt file through r (size bytes), with plain reads
// and every offset bounds-checked, and says what is wrong with it, or
// nil when bbolt can open and walk it without reading outside the file.
//
// bbolt trusts its file: it maps it into memory and follows the page
// numbers and offsets it finds, so a truncated file faults (SIGBUS, which
// recover cannot catch) and a damaged page panics or makes it allocate
// without bound. This walks the same structures first, the way
// bbolt's own tx.Check does but without trusting them: the meta pages
// (magic, version, checksum), the file's length against the page count
// the meta claims, the freelist, and every page reachable from the root
// bucket (its id, type, element offsets, child pages and nested
// buckets), each page reached once. It does not judge the values.
func checkBolt(r io.ReaderAt, size int64) error {
	c := &boltChecker{r: r, size: size, used: map[uint64]bool{}, free: map[uint64]bool{}}
	return c.check()
}

// bbolt's on-disk format (go.etcd.io/bbolt/internal/common), in the
// machine's byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaSize         = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	elementSize      = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	inBucketSize     = 16 // root pgid u64, sequence u64
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagFreelist     = 0x10
	flagBucketLeaf   = 0x01
	noFreelist       = ^uint64(0)
	maxTreeDepth     = 64
	minBoltPageSize  = 1024
	maxBoltPageSize  = 1 << 24
	metaChecksumSpan = 56 // the bytes of a meta the checksum covers
)

var ne = binary.NativeEndian

type boltChecker struct {
	r        io.ReaderAt
	size     int64
	pageSize uint64
	hwm      uint64          // pages the meta says the file has
	used     map[uint64]bool // pages reached so far
	free     map[uint64]bool // pages the freelist holds
}

type boltMeta struct {
	pageSize, root, freelist, pgid, txid uint64
}

func (c *boltChecker) check() error {
	m, err := c.meta()
	if err != nil {
		return err
	}
	c.pageSize, c.hwm = m.pageSize, m.pgid
	if c.pageSize < minBoltPageSize || c.pageSize > maxBoltPageSize || c.pageSize&(c.pageSize-1) != 0 {
		return fmt.Errorf("its page size %d is impossible", c.pageSize)
	}
	if c.hwm < 3 || c.hwm > uint64(c.size)/c.pageSize {
		return fmt.Errorf("it is truncated: %d bytes, where its meta page counts %d pages of %d bytes", c.size, c.hwm, c.pageSize)
	}
	c.used[0], c.used[1] = true, true
	if m.freelist != noFreelist {
		if err := c.freelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root == 0 {
		return fmt.Errorf("its root bucket has no page")
	}
	return c.tree(m.root, 0)
}

// meta returns the meta page bbolt would use: of the two that are
// valid, the one with the later transaction.
func (c *boltChecker) meta() (boltMeta, error) {
	var metas []boltMeta
	m0, err := c.readMeta(0)
	if err == nil {
		metas = append(metas, m0)
		if m1, err := c.readMeta(int64(m0.pageSize)); err == nil && m1.pageSize == m0.pageSize {
			metas = append(metas, m1)
		}
	} else {
		// Where the second meta page is depends on the page size, which
		// only a valid meta page tells: try them all, as bbolt does.
		for ps := int64(minBoltPageSize); ps <= maxBoltPageSize && ps+pageHeaderSize+metaSize <= c.size; ps *= 2 {
			if m1, err := c.readMeta(ps); err == nil && int64(m1.pageSize) == ps {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return boltMeta{}, fmt.Errorf("neither of its meta pages is valid (%v)", err)
	}
	best := metas[0]
	for _, m := range metas[1:] {
		if m.txid > best.txid {
			best = m
		}
	}
	return best, nil
}

func (c *boltChecker) readMeta(off int64) (boltMeta, error) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := c.r.ReadAt(b[:], off); err != nil {
		return boltMeta{}, fmt.Errorf("unreadable meta page: %w", err)
	}
	m := b[pageHeaderSize:]
	switch {
	case ne.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, fmt.Errorf("not a bbolt meta page")
	case ne.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format version %d", ne.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumSpan])
	if h.Sum64() != ne.Uint64(m[metaChecksumSpan:]) {
		return boltMeta{}, fmt.Errorf("meta page checksum mismatch")
	}
	return boltMeta{pageSize: uint64(ne.Uint32(m[8:])), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, nil
}

// page reads page id and its overflow pages, checking it is what its
// referrer expects and that no other reference reached it.
func (c *boltChecker) page(id uint64, what string) (flags uint16, count int, data []byte, err error) {
	if id < 2 || id >= c.hwm {
		return 0, 0, nil, fmt.Errorf("%s names page %d, outside the file's %d pages", what, id, c.hwm)
	}
	var h [pageHeaderSize]byte
	if _, err := c.r.ReadAt(h[:], int64(id*c.pageSize)); err != nil {
		return 0, 0, nil, fmt.Errorf("page %d is unreadable: %w", id, err)
	}
	if got := ne.Uint64(h[0:]); got != id {
		return 0, 0, nil, fmt.Errorf("%s names page %d, which says it is page %d", what, id, got)
	}
	flags, count, overflow := ne.Uint16(h[8:]), int(ne.Uint16(h[10:])), uint64(ne.Uint32(h[12:]))
	if overflow >= c.hwm-id {
		return 0, 0, nil, fmt.Errorf("page %d claims %d overflow pages, past the end of the file", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		switch {
		case c.used[i]:
			return 0, 0, nil, fmt.Errorf("page %d is reached twice (from %s)", i, what)
		case c.free[i]:
			return 0, 0, nil, fmt.Errorf("page %d is in use and free at once", i)
		}
		c.used[i] = true
	}
	data = make([]byte, (overflow+1)*c.pageSize)
	if _, err := c.r.ReadAt(data, int64(id*c.pageSize)); err != nil {
		return 0, 0, nil, fmt.Errorf("page %d is unreadable: %w", id, err)
	}
	return flags, count, data, nil
}

func (c *boltChecker) freelist(id uint64) error {
	flags, count, data, err := c.page(id, "the meta page's freelist")
	if err != nil {
		return err
	}
	if flags != flagFreelist {
		return fmt.Errorf("the freelist's page %d is not a freelist page (flags %#x)", id, flags)
	}
	ids := data[pageHeaderSize:]
	n := uint64(count)
	if count == 0xFFFF { // the real count is the first id's slot
		if len(ids) < 8 {
			return fmt.Errorf("the freelist's page %d is too short", id)
		}
		n, ids = ne.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids))/8 {
		return fmt.Errorf("the freelist's page %d claims %d free pages, more than it holds", id, n)
	}
	for i := uint64(0); i < n; i++ {
		p := ne.Uint64(ids[i*8:])
		switch {
		case p < 2 || p >= c.hwm:
			return fmt.Errorf("the freelist holds page %d, outside the file's %d pages", p, c.hwm)
		case c.free[p] || c.used[p]:
			return fmt.Errorf("the freelist holds page %d twice, or a page in use", p)
		}
		c.free[p] = true
	}
	return nil
}

// tree checks the page tree rooted at page id.
func (c *boltChecker) tree(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("its page tree is deeper than %d levels", maxTreeDepth)
	}
	flags, count, data, err := c.page(id, "a bucket")
	if err != nil {
		return err
	}
	switch flags {
	case flagBranch, flagLeaf:
	default:
		return fmt.Errorf("page %d in a bucket's tree is neither a branch nor a leaf (flags %#x)", id, flags)
	}
	return c.elements(data, id, flags, count, depth)
}

// elements checks the elements of a branch or leaf page (data, whole,
// id 0 for a bucket stored inline in its parent's value).
func (c *boltChecker) elements(data []byte, id uint64, flags uint16, count, depth int) error {
	if flags == flagBranch && count == 0 {
		return fmt.Errorf("branch page %d is empty", id)
	}
	if uint64(pageHeaderSize)+uint64(count)*elementSize > uint64(len(data)) {
		return fmt.Errorf("page %d claims %d elements, more than it holds", id, count)
	}
	for i := 0; i < count; i++ {
		off := uint64(pageHeaderSize + i*elementSize)
		e := data[off : off+elementSize]
		if flags == flagBranch {
			pos, ksize, child := uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:])), ne.Uint64(e[8:])
			if off+pos+ksize > uint64(len(data)) {
				return fmt.Errorf("page %d: the key of element %d lies outside the page", id, i)
			}
			if err := c.tree(child, depth+1); err != nil {
				return err
			}
			continue
		}
		eflags, pos, ksize, vsize := ne.Uint32(e[0:]), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		start := off + pos
		if start+ksize+vsize > uint64(len(data)) {
			return fmt.Errorf("page %d: the key or value of element %d lies outside the page", id, i)
		}
		if eflags&flagBucketLeaf == 0 {
			continue
		}
		value := data[start+ksize : start+ksize+vsize]
		if len(value) < inBucketSize {
			return fmt.Errorf("page %d: element %d is a bucket too short to be one", id, i)
		}
		if root := ne.Uint64(value); root != 0 {
			if err := c.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		// An inline bucket: its one leaf page is the rest of the value.
		inline := value[inBucketSize:]
		if len(inline) < pageHeaderSize {
			return fmt.Errorf("page %d: element %d holds an inline bucket too short to be one", id, i)
		}
		if f := ne.Uint16(inline[8:]); f != flagLeaf {
			return fmt.Errorf("page %d: element %d holds an inline bucket that is not a leaf (flags %#x)", id, i, f)
		}
		if depth+1 > maxTreeDepth {
			return fmt.Errorf("its buckets nest deeper than %d levels", maxTreeDepth)
		}
		if err := c.elements(inline, id, flagLeaf, int(ne.Uint16(inline[10:])), depth+1); err != nil {
			return err
		}
	}
	return nil
}
