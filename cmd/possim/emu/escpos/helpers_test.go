package escpos

import (
	"bytes"
	"context"
	"encoding/hex"
	"image"
	"image/png"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// wire is the test's end of the serial line: what the test writes, the
// printer reads (an io.Pipe, so a printer that stops reading blocks the
// writer, as a full pty does), and what the printer writes is collected.
type wire struct {
	r  *io.PipeReader
	w  *io.PipeWriter
	mu sync.Mutex
	rx []byte
}

func (l *wire) Read(p []byte) (int, error) { return l.r.Read(p) }

func (l *wire) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rx = append(l.rx, p...)
	return len(p), nil
}

// answers returns the bytes the printer sent back.
func (l *wire) answers() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.rx)
}

// start serves a printer on a wire until the test ends.
func start(t *testing.T, cfg Config) (*Printer, *wire) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	l := &wire{r: r, w: w}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		w.Close()
		if err := <-done; err != nil && err != io.ErrClosedPipe && err != io.EOF {
			t.Errorf("Serve: %v", err)
		}
	})
	return p, l
}

// send writes data in the background; the channel reports when the
// printer has read all of it.
func (l *wire) send(data []byte) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := l.w.Write(data)
		ch <- err
	}()
	return ch
}

// sendAll writes data and waits until the printer has read it.
func (l *wire) sendAll(t *testing.T, data []byte) {
	t.Helper()
	select {
	case err := <-l.send(data):
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("printer did not read the data within 10 s")
	}
}

// eventually polls cond until it holds (a synchronisation, not a timing
// assertion: the limit only stops a broken test from hanging).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// receipt waits for receipt seq.
func receipt(t *testing.T, p *Printer, seq int) Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := p.WaitReceipt(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// unhex parses "1B 40 …" (spaces and newlines ignored).
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePNG(t *testing.T, r Receipt) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(r.PNG))
	if err != nil {
		t.Fatalf("receipt PNG: %v", err)
	}
	return img
}

func black(img image.Image, x, y int) bool {
	r, _, _, _ := img.At(x, y).RGBA()
	return r < 0x8000
}

// inkBox is the bounding box of the black dots in rows [y0, y1).
func inkBox(img image.Image, y0, y1 int) image.Rectangle {
	r := image.Rectangle{}
	first := true
	for y := y0; y < y1; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if !black(img, x, y) {
				continue
			}
			p := image.Rect(x, y, x+1, y+1)
			if first {
				r, first = p, false
			} else {
				r = r.Union(p)
			}
		}
	}
	return r
}

// needFont skips a test that checks glyph shapes when Unifont is not
// installed (apt-get install unifont).
func needFont(t *testing.T) *Font {
	t.Helper()
	f, err := LoadFont()
	if err != nil {
		t.Skipf("GNU Unifont not installed (apt-get install unifont): %v", err)
	}
	return f
}

// problems returns r's problems without "font missing" (which only says
// that Unifont is not installed on this machine; logged instead), so
// tests of everything else pass either way.
func problems(t *testing.T, r Receipt) []string {
	t.Helper()
	var out []string
	for _, pr := range r.Problems {
		if strings.HasPrefix(pr, "font missing") {
			t.Log("font missing: text renders as boxes (apt-get install unifont)")
			continue
		}
		out = append(out, pr)
	}
	return out
}
