package serialio

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultBaud         = 115200
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = 5 * time.Second
)

// Baud rate limits accepted by Config (go.bug.st/serial sets rates outside
// the standard table through BOTHER on Linux).
const (
	MinBaud = 50
	MaxBaud = 4000000
)

// Config names a serial port and how to talk to it. The line is always
// 8 data bits, no parity, 1 stop bit, no flow control.
type Config struct {
	// Path is the device node ("/dev/ttyUSB0") or a link to it
	// ("/dev/serial/by-id/..."). Links are resolved at every open, so a
	// reopen after a replug follows the link to wherever it points now.
	// Exactly one of Path and USB is set.
	Path string
	// USB is "VVVV:PPPP" or "VVVV:PPPP:SERIAL" (hex vendor and product id,
	// optional USB serial number), resolved through sysfs at every open.
	USB string
	// Baud is the line speed; 0 means DefaultBaud (115200).
	Baud int
	// ReadTimeout is how long Read waits for the first byte; 0 means
	// DefaultReadTimeout. See SerialPort.SetReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout is how long Write waits while the device accepts no
	// byte at all (a stalled printer); 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives state changes (info/warn) and optional-feature
	// failures (debug); nil discards.
	Logger *slog.Logger
}

// Name is the port as configured: Path, or "usb:" followed by USB.
func (c Config) Name() string {
	if c.USB != "" {
		return "usb:" + c.USB
	}
	return c.Path
}

// normalize validates c and fills in defaults. Errors wrap ErrConfig and
// name the field.
func (c Config) normalize() (Config, error) {
	switch {
	case c.Path == "" && c.USB == "":
		return c, fmt.Errorf("%w: one of Path and USB must be set", ErrConfig)
	case c.Path != "" && c.USB != "":
		return c, fmt.Errorf("%w: Path %q and USB %q are both set; set one", ErrConfig, c.Path, c.USB)
	}
	if c.USB != "" {
		if _, err := ParseUSBID(c.USB); err != nil {
			return c, err
		}
	}
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.Baud < MinBaud || c.Baud > MaxBaud {
		return c, fmt.Errorf("%w: Baud %d outside [%d, %d]", ErrConfig, c.Baud, MinBaud, MaxBaud)
	}
	if c.ReadTimeout < 0 {
		return c, fmt.Errorf("%w: ReadTimeout %v is negative", ErrConfig, c.ReadTimeout)
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout < 0 {
		return c, fmt.Errorf("%w: WriteTimeout %v is negative", ErrConfig, c.WriteTimeout)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// maxUSBSerial bounds the serial number part of a USB id: a USB string
// descriptor holds at most 126 UTF-16 code units, at most 3 UTF-8 bytes
// each.
const maxUSBSerial = 126 * 3

// USBID selects a USB serial port by vendor id, product id and optionally
// the device's serial number.
type USBID struct {
	VID, PID uint16
	// Serial is the USB serial number (iSerialNumber string); empty
	// matches any.
	Serial string
}

// ParseUSBID parses "VVVV:PPPP" or "VVVV:PPPP:SERIAL": exactly four hex
// digits each (either case), then an optional serial number of 1 to 378
// bytes of UTF-8 without control characters (it may contain ':').
// Errors wrap ErrConfig and name the part and byte offset at fault.
func ParseUSBID(s string) (USBID, error) {
	var id USBID
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return id, fmt.Errorf("%w: USB %q: want VVVV:PPPP[:SERIAL]", ErrConfig, s)
	}
	var err error
	if id.VID, err = parseHex16(parts[0]); err != nil {
		return id, fmt.Errorf("%w: USB %q: vendor id at offset 0: %v", ErrConfig, s, err)
	}
	if id.PID, err = parseHex16(parts[1]); err != nil {
		return id, fmt.Errorf("%w: USB %q: product id at offset 5: %v", ErrConfig, s, err)
	}
	if len(parts) == 3 {
		ser := parts[2]
		switch {
		case ser == "":
			return id, fmt.Errorf("%w: USB %q: empty serial number at offset 10", ErrConfig, s)
		case len(ser) > maxUSBSerial:
			return id, fmt.Errorf("%w: USB %q: serial number is %d bytes, limit %d", ErrConfig, s, len(ser), maxUSBSerial)
		case !utf8.ValidString(ser):
			return id, fmt.Errorf("%w: USB %q: serial number is not UTF-8", ErrConfig, s)
		}
		for i, r := range ser {
			if unicode.IsControl(r) {
				return id, fmt.Errorf("%w: USB %q: control character %U in serial number at offset %d", ErrConfig, s, r, 10+i)
			}
		}
		id.Serial = ser
	}
	return id, nil
}

func parseHex16(s string) (uint16, error) {
	if len(s) != 4 {
		return 0, fmt.Errorf("%q is not 4 hex digits", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, fmt.Errorf("%q is not 4 hex digits", s)
		}
	}
	v, err := strconv.ParseUint(s, 16, 16)
	return uint16(v), err
}

// String formats the id as ParseUSBID accepts it, hex in upper case.
func (u USBID) String() string {
	s := fmt.Sprintf("%04X:%04X", u.VID, u.PID)
	if u.Serial != "" {
		s += ":" + u.Serial
	}
	return s
}

// Matches reports whether p is a USB port with this id.
func (u USBID) Matches(p PortInfo) bool {
	if !p.USB {
		return false
	}
	vid, err1 := parseHex16(p.VID)
	pid, err2 := parseHex16(p.PID)
	if err1 != nil || err2 != nil || vid != u.VID || pid != u.PID {
		return false
	}
	return u.Serial == "" || u.Serial == p.Serial
}
