package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The preflight reads bbolt's meta pages and the freelist page header with
// plain file reads, before bbolt maps the file. bbolt trusts these pages: a
// truncated file makes it fault on the memory map (SIGBUS) and a garbage
// freelist count makes it allocate or read without bound, neither of which
// a recover can always catch. The layout is bbolt's on-disk format version 2
// (go.etcd.io/bbolt internal/common: page header, Meta), little-endian on
// every target posagent builds for.

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	metaChecksumOff  = 56 // bytes of Meta covered by the checksum
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagFreelist     = 0x10
	pgidNoFreelist   = ^uint64(0)
	maxPreflightPage = 1 << 16
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high water mark, in pages
	txid     uint64
}

var le = binary.LittleEndian

// parseMeta validates the meta page in page (starting at its page header).
func parseMeta(page []byte) (boltMeta, error) {
	var m boltMeta
	if len(page) < pageHeaderSize+metaChecksumOff+8 {
		return m, fmt.Errorf("meta page short: %d bytes", len(page))
	}
	b := page[pageHeaderSize:]
	if le.Uint32(b[0:]) != boltMagic {
		return m, fmt.Errorf("bad magic %#x", le.Uint32(b[0:]))
	}
	if v := le.Uint32(b[4:]); v != boltVersion {
		return m, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksumOff])
	if h.Sum64() != le.Uint64(b[metaChecksumOff:]) {
		return m, fmt.Errorf("checksum mismatch")
	}
	m.pageSize = le.Uint32(b[8:])
	m.root = le.Uint64(b[16:])
	m.freelist = le.Uint64(b[32:])
	m.pgid = le.Uint64(b[40:])
	m.txid = le.Uint64(b[48:])
	if m.pageSize < 1024 || m.pageSize > maxPreflightPage || m.pageSize&(m.pageSize-1) != 0 {
		return m, fmt.Errorf("page size %d is not a power of two in 1024-%d", m.pageSize, maxPreflightPage)
	}
	return m, nil
}

// preflight checks the file's bbolt skeleton: meta pages, file size,
// freelist header, and the whole page tree (walkTree). It never writes.
func preflight(f *os.File, size int64) []Problem {
	var probs []Problem
	bad := func(where, format string, args ...any) {
		probs = append(probs, Problem{Where: where, What: fmt.Sprintf(format, args...)})
	}
	readAt := func(n int, off int64) ([]byte, error) {
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return nil, err
		} else if err == io.EOF {
			return nil, fmt.Errorf("%d bytes at offset %d run past the end of the file (%d bytes)", n, off, size)
		}
		return buf, nil
	}

	var metas []boltMeta
	var errs []string
	p0, err := readAt(4096, 0)
	if err == nil {
		var m boltMeta
		if m, err = parseMeta(p0); err == nil {
			metas = append(metas, m)
		}
	}
	if err != nil {
		errs = append(errs, "meta page 0: "+err.Error())
	}
	// Meta page 1 sits one page in; the page size comes from whichever
	// meta is valid, or is tried from the usual sizes.
	sizes := []int64{4096, 8192, 16384, 32768, 65536}
	if len(metas) == 1 {
		sizes = []int64{int64(metas[0].pageSize)}
	}
	var err1 error
	for _, ps := range sizes {
		p1, err := readAt(int(ps), ps)
		if err != nil {
			err1 = err
			continue
		}
		m, err := parseMeta(p1)
		if err == nil && int64(m.pageSize) == ps {
			metas = append(metas, m)
			err1 = nil
			break
		}
		if err == nil {
			err = fmt.Errorf("page size %d, found at offset %d", m.pageSize, ps)
		}
		err1 = err
	}
	if err1 != nil {
		errs = append(errs, "meta page 1: "+err1.Error())
	}
	if len(metas) == 0 {
		for _, e := range errs {
			bad("bbolt", "%s", e)
		}
		bad("bbolt", "no valid meta page: not a bbolt file, or both meta pages are damaged")
		return probs
	}
	m := metas[0]
	for _, o := range metas[1:] {
		if o.txid > m.txid {
			m = o
		}
	}
	ps := int64(m.pageSize)
	if m.pgid < 4 {
		bad("bbolt", "meta (txid %d) says %d pages are in use; a bbolt file has at least 4", m.txid, m.pgid)
		return probs
	}
	if m.pgid > uint64(size)/uint64(ps) {
		bad("file", "file is %d bytes but bbolt's meta (txid %d) says %d pages of %d bytes are in use: truncated",
			size, m.txid, m.pgid, ps)
		return probs
	}
	if m.root < 2 || m.root >= m.pgid {
		bad("bbolt", "root page %d outside 2-%d", m.root, m.pgid-1)
		return probs
	}
	if hdr, err := readAt(pageHeaderSize, int64(m.root)*ps); err != nil {
		bad("bbolt", "root page %d: %v", m.root, err)
	} else if id, fl := le.Uint64(hdr), le.Uint16(hdr[8:]); id != m.root || (fl != flagBranch && fl != flagLeaf) {
		bad("bbolt", "root page %d: header says page %d with flags %#x", m.root, id, fl)
	}
	if m.freelist == pgidNoFreelist {
		return probs
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		bad("bbolt", "freelist page %d outside 2-%d", m.freelist, m.pgid-1)
		return probs
	}
	hdr, err := readAt(pageHeaderSize+8, int64(m.freelist)*ps)
	if err != nil {
		bad("bbolt", "freelist page %d: %v", m.freelist, err)
		return probs
	}
	id, fl, count, overflow := le.Uint64(hdr), le.Uint16(hdr[8:]), uint64(le.Uint16(hdr[10:])), uint64(le.Uint32(hdr[12:]))
	if id != m.freelist || fl != flagFreelist {
		bad("bbolt", "freelist page %d: header says page %d with flags %#x", m.freelist, id, fl)
		return probs
	}
	if m.freelist+overflow >= m.pgid {
		bad("bbolt", "freelist page %d: %d overflow pages run past the high water mark %d", m.freelist, overflow, m.pgid)
		return probs
	}
	room := ((overflow+1)*uint64(ps) - pageHeaderSize) / 8
	slots := count
	if count == 0xFFFF {
		count = le.Uint64(hdr[pageHeaderSize:]) // the leading element holds the count
		slots = count + 1
		if count >= room {
			slots = room + 1
		}
	}
	if slots > room || count > m.pgid {
		bad("bbolt", "freelist page %d: %d free page ids do not fit its %d pages or the %d pages in use",
			m.freelist, count, overflow+1, m.pgid)
		return probs
	}
	if len(probs) == 0 {
		w := &treeWalker{f: f, ps: ps, hwm: m.pgid, seen: map[uint64]bool{0: true, 1: true}}
		for i := uint64(0); i <= overflow; i++ {
			w.seen[m.freelist+i] = true
		}
		if err := w.page(m.root, 0, 0); err != nil {
			bad("bbolt", "page tree: %v", err)
		}
	}
	return probs
}

// treeWalker reads bbolt's B+tree pages with plain file reads and checks
// every bound bbolt would trust: page ids, element offsets, overflow runs,
// child page ids, and that no page is reached twice (a cycle would send
// bbolt's cursor into an endless descent that no recover can stop).
type treeWalker struct {
	f    *os.File
	ps   int64
	hwm  uint64
	seen map[uint64]bool
}

const (
	maxTreeDepth   = 32 // B+tree levels plus bucket nesting
	elemSize       = 16 // branch and leaf page elements
	bucketLeafFlag = 0x01
	bucketHdrSize  = 16 // root pgid, sequence
)

func (w *treeWalker) page(id uint64, depth, nest int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d levels", id, maxTreeDepth)
	}
	if id < 2 || id >= w.hwm {
		return fmt.Errorf("page id %d outside 2-%d", id, w.hwm-1)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id)*w.ps); err != nil {
		return fmt.Errorf("page %d: %v", id, err)
	}
	pid, overflow := le.Uint64(hdr), uint64(le.Uint32(hdr[12:]))
	if pid != id {
		return fmt.Errorf("page %d: header says page %d", id, pid)
	}
	if id+overflow >= w.hwm {
		return fmt.Errorf("page %d: %d overflow pages run past the high water mark %d", id, overflow, w.hwm)
	}
	for i := uint64(0); i <= overflow; i++ {
		if w.seen[id+i] {
			return fmt.Errorf("page %d is reached twice (a cycle, or shared by two parents)", id+i)
		}
		w.seen[id+i] = true
	}
	buf := make([]byte, int64(overflow+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id)*w.ps); err != nil {
		return fmt.Errorf("page %d: %v", id, err)
	}
	return w.node(buf, id, depth, nest)
}

// node checks one branch or leaf page held in buf (a whole page run, or
// an inline bucket's page).
func (w *treeWalker) node(buf []byte, id uint64, depth, nest int) error {
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return fmt.Errorf("page %d: flags %#x, want a branch or leaf page", id, flags)
	}
	if pageHeaderSize+count*elemSize > len(buf) {
		return fmt.Errorf("page %d: %d elements do not fit %d bytes", id, count, len(buf))
	}
	if flags == flagBranch && count == 0 {
		return fmt.Errorf("page %d: empty branch page", id)
	}
	for i := 0; i < count; i++ {
		off := pageHeaderSize + i*elemSize
		e := buf[off : off+elemSize]
		if flags == flagBranch {
			pos, ksize, child := uint64(le.Uint32(e)), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
			if uint64(off)+pos+ksize > uint64(len(buf)) {
				return fmt.Errorf("page %d: branch element %d key runs past the page", id, i)
			}
			if err := w.page(child, depth+1, nest); err != nil {
				return err
			}
			continue
		}
		eflags, pos, ksize, vsize := le.Uint32(e), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		end := uint64(off) + pos + ksize + vsize
		if end > uint64(len(buf)) {
			return fmt.Errorf("page %d: leaf element %d (key %d + value %d bytes) runs past the page", id, i, ksize, vsize)
		}
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		// A nested bucket: its header, then either a root page id or,
		// when the root is 0, an inline leaf page inside the value.
		if nest >= 3 {
			return fmt.Errorf("page %d: buckets nested more than 3 deep", id)
		}
		v := buf[uint64(off)+pos+ksize : end]
		if len(v) < bucketHdrSize {
			return fmt.Errorf("page %d: bucket header of element %d is %d bytes", id, i, len(v))
		}
		if root := le.Uint64(v); root != 0 {
			if err := w.page(root, depth+1, nest+1); err != nil {
				return err
			}
			continue
		}
		inline := v[bucketHdrSize:]
		if len(inline) < pageHeaderSize {
			return fmt.Errorf("page %d: inline bucket of element %d is %d bytes", id, i, len(inline))
		}
		if le.Uint16(inline[8:]) != flagLeaf {
			return fmt.Errorf("page %d: inline bucket of element %d is not a leaf", id, i)
		}
		if err := w.node(inline, id, depth+1, nest+1); err != nil {
			return err
		}
	}
	return nil
}
