// Package scanner reads barcodes and QR codes from the terminal's scanner
// and tells what they are: a product number (EAN-13, UPC-A), a
// customer-presented payment code (UnionPay, WeChat Pay, Alipay), or
// something else.
//
// Two kinds of scanner are supported:
//
//   - Serial (UART or USB-CDC): printable ASCII codes ended by CR, LF or
//     CRLF. Serial reads through the small Port interface, which
//     drivers/serialio and go.bug.st/serial satisfy; LineReader is the
//     pure framing state machine behind it.
//   - USB HID keyboard wedge on Linux: OpenHID opens the evdev node,
//     grabs it (EVIOCGRAB) so scans do not leak into a console, decodes
//     struct input_event records for the running architecture
//     (DecodeEvents, Layout) and maps key codes to characters with a fixed
//     US layout plus Shift and Caps Lock (USKey, KeyDecoder), independent
//     of the system's keyboard layout.
//
// Both readers end a code on its terminator, not on a timeout; discard a
// code that is too long (MaxLen), holds a byte or key with no printable
// character, or is followed by silence without a terminator (IdleTimeout:
// half a scan); and report each lost code once as an error wrapping
// ErrBadScan, going on with the next one (DESIGN.md invariant 6: a bad
// frame costs at most that frame). Memory is bounded by MaxLen whatever
// the device sends. Device failures (ErrPort) end the reader; the owner
// closes and reopens it (invariant 7).
//
// Classify sorts a code by prefix, length and check digit. A payment code
// is a one-time bearer token until the host has used it, and a UnionPay
// one looks like a PAN: Code keeps its text out of fmt, slog and JSON
// (String, LogValue and MarshalJSON mask it); only Code.Text returns it.
// Nothing in this package logs a code's text.
//
// docs/scanner.md records the framing rules, the evdev record layouts and
// key map, the payment-code rules with their sources, and benchmark
// figures.
//
// # References
//
//   - Linux include/uapi/linux/input.h (struct input_event, EVIOCGRAB,
//     EVIOCGLED) and input-event-codes.h (EV_*, SYN_*, KEY_* codes);
//     Documentation/input/event-codes.rst (SYN_DROPPED handling).
//   - GS1 General Specifications §7.9 (mod-10 check digit).
//   - WeChat Pay and Alipay merchant API docs for auth_code (see
//     docs/scanner.md).
package scanner
