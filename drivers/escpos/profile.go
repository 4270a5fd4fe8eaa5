package escpos

import (
	"fmt"
	"time"
)

// Profile is what one printer model can do. The board configuration picks
// a named profile (or fills one in); Render and Printer follow it.
type Profile struct {
	Name string
	// DotsPerLine is the printable width in dots: 384 for 58 mm paper,
	// 576 for 80 mm, at 203 dpi (8 dots/mm).
	DotsPerLine int
	// Columns is the number of normal-size font A characters per line
	// (12-dot cells: 32 on 58 mm, 48 on 80 mm). Chinese characters take
	// two columns.
	Columns int
	// Encoding is how the printer takes text outside ASCII.
	Encoding Encoding
	// CodePage is the single-byte table for EncodingNone (PC437 by
	// default). Chinese encodings use only ASCII outside Chinese mode.
	CodePage CodePage
	// SupportsQR: the firmware implements GS ( k QR codes. Without it
	// the command bytes print as text (escpos-printer-db#64).
	SupportsQR bool
	// SupportsCut: an autocutter is fitted (GS V cuts; otherwise the
	// paper is fed past the tear bar).
	SupportsCut bool
	// SupportsRaster: the firmware implements GS v 0 (the TM-U220 does not,
	// odoo PR #126689).
	SupportsRaster bool
	// Baud is the serial line speed (8N1: 10 bits per byte). Zero for a
	// USB link, whose speed the serial settings do not govern.
	Baud int
	// BufferBytes is the printer's receive buffer (0: unknown). Driver
	// chunks are no larger, and Render sizes raster strips to fit it; a
	// single command can still exceed it (a long QR store).
	BufferBytes int
	// SpeedMMs is the print speed in mm/s (documentation and estimates).
	SpeedMMs int
	// StripRows is the raster strip height; 0 means DefaultStripRows.
	StripRows int
}

// Named profiles. The capability flags of the generic profiles are
// deliberately conservative; Baud, BufferBytes and SpeedMMs are typical
// values, to be checked against the unit (see docs/escpos.md).
var (
	// Generic58 is a low-cost 58 mm Chinese printer (e.g. the HOP-E58
	// class): GBK font, raster images, no native QR, no cutter, 9600 baud.
	Generic58 = Profile{
		Name: "generic-58", DotsPerLine: 384, Columns: 32, Encoding: EncodingGBK,
		SupportsQR: false, SupportsCut: false, SupportsRaster: true,
		Baud: 9600, BufferBytes: 4096, SpeedMMs: 60,
	}
	// Generic80 is an 80 mm Chinese printer with cutter and native QR.
	Generic80 = Profile{
		Name: "generic-80", DotsPerLine: 576, Columns: 48, Encoding: EncodingGBK,
		SupportsQR: true, SupportsCut: true, SupportsRaster: true,
		Baud: 115200, BufferBytes: 4096, SpeedMMs: 200,
	}
	// EpsonTMT20 is an Epson TM-T20-like 80 mm printer (Simplified
	// Chinese model): 576 dots, 48 columns, native QR, autocutter.
	EpsonTMT20 = Profile{
		Name: "epson-tm-t20", DotsPerLine: 576, Columns: 48, Encoding: EncodingGBK,
		SupportsQR: true, SupportsCut: true, SupportsRaster: true,
		Baud: 38400, BufferBytes: 4096, SpeedMMs: 150,
	}
)

// Profiles returns the named profiles.
func Profiles() []Profile { return []Profile{Generic58, Generic80, EpsonTMT20} }

// ProfileByName returns the named profile.
func ProfileByName(name string) (Profile, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("%w: no profile named %q (known: generic-58, generic-80, epson-tm-t20)", ErrProfile, name)
}

// Validate checks that p is usable.
func (p Profile) Validate() error {
	switch {
	case p.DotsPerLine < 8 || p.DotsPerLine > 4096:
		return fmt.Errorf("%w %q: DotsPerLine %d (want 8-4096)", ErrProfile, p.Name, p.DotsPerLine)
	case p.Columns < 8 || p.Columns > 256:
		return fmt.Errorf("%w %q: Columns %d (want 8-256)", ErrProfile, p.Name, p.Columns)
	case !p.Encoding.Valid():
		return fmt.Errorf("%w %q: Encoding %q (want gbk, gb18030, utf8 or none)", ErrProfile, p.Name, p.Encoding)
	case !p.CodePage.Known():
		return fmt.Errorf("%w %q: CodePage %d unknown", ErrProfile, p.Name, byte(p.CodePage))
	case p.Baud < 0:
		return fmt.Errorf("%w %q: Baud %d", ErrProfile, p.Name, p.Baud)
	case p.BufferBytes < 0:
		return fmt.Errorf("%w %q: BufferBytes %d", ErrProfile, p.Name, p.BufferBytes)
	case p.StripRows < 0 || p.StripRows > MaxStripRows:
		return fmt.Errorf("%w %q: StripRows %d (want 0-%d)", ErrProfile, p.Name, p.StripRows, MaxStripRows)
	}
	return nil
}

// QRMode is how a profile prints a QR code.
type QRMode uint8

// QR modes, in order of preference.
const (
	QRNative QRMode = iota + 1 // GS ( k
	QRRaster                   // rendered to a bitmap, sent with GS v 0
	QRText                     // the content as a text line
)

// String returns the mode's name.
func (m QRMode) String() string {
	switch m {
	case QRNative:
		return "native"
	case QRRaster:
		return "raster"
	case QRText:
		return "text"
	}
	return fmt.Sprintf("QRMode(%d)", uint8(m))
}

// QRMode applies the fallback rule: native QR when the firmware has it,
// else a raster image, else text only.
func (p Profile) QRMode() QRMode {
	switch {
	case p.SupportsQR:
		return QRNative
	case p.SupportsRaster:
		return QRRaster
	}
	return QRText
}

// TransferTime is how long n bytes take on the serial line: n × 10 bits
// (8N1) / Baud. Zero when Baud is zero (USB).
func (p Profile) TransferTime(n int) time.Duration {
	if p.Baud <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(p.Baud))
}

// stripRows returns the raster strip height for rows of stride bytes:
// StripRows (default DefaultStripRows), lowered so that one GS v 0
// command (8 header bytes + rows × stride) fits BufferBytes.
func (p Profile) stripRows(stride int) int {
	rows := p.StripRows
	if rows == 0 {
		rows = DefaultStripRows
	}
	if p.BufferBytes > 0 && stride > 0 {
		rows = min(rows, max(1, (p.BufferBytes-8)/stride))
	}
	return rows
}

// qrModule is the QR module size in dots: about 0.5 mm at 203 dpi on 58 mm
// (4 dots), 0.75 mm on 80 mm (6 dots).
func (p Profile) qrModule() int {
	return max(2, min(16, p.DotsPerLine/96))
}
