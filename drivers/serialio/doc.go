// Package serialio is the serial transport of every UART device driver
// (PN532 reader, ESC/POS printer, serial scanner, modem AT port): a small
// Port interface over go.bug.st/serial with the behaviours the library
// lacks, and a Reopener that brings an unplugged device back without
// restarting the agent.
//
// # Opening
//
// Open takes a Config naming the port by path (a /dev/serial/by-id link is
// resolved at every open, so a reopen follows it to the new node after a
// replug) or by USB id "VVVV:PPPP[:SERIAL]" (resolved through sysfs by
// List). The line is always 8N1, no flow control, at Config.Baud (default
// 115200). DTR and RTS are raised when the port has them; on a
// pseudo-terminal or an adapter without modem lines the failure is logged
// at debug and ignored. SetDTR, SetRTS and ModemStatus (the ModemLines
// interface) return errors wrapping errors.ErrUnsupported there.
//
// List never opens a port: it reads /sys/class/tty and the USB device's
// attributes. go.bug.st/serial/enumerator is not used because its Linux
// listing opens every /dev/ttyS* and /dev/ttyHS* node to probe it, which
// resets that port's speed and its exclusive flag.
//
// # Exclusive ownership
//
// Before go.bug.st/serial touches the port, Open opens the device node a
// second time (O_RDWR|O_NOCTTY|O_NONBLOCK) and takes flock(LOCK_EX|LOCK_NB)
// on it. A second owner, in this process or another, gets ErrBusy naming
// the path and the holder's pid (from /proc/locks) without having changed
// the first owner's termios. TIOCEXCL, which go.bug.st/serial sets, does
// not stop root; flock does, between programs that take it. The second
// descriptor also carries writes and is watched for hangup (below).
//
// # Reading, writing, timeouts
//
// Read returns at least one byte or an error; a read timeout, which
// go.bug.st/serial reports as (0, nil), is an error wrapping ErrTimeout
// (and *Error.Timeout() is true). SetReadTimeout(0) polls; a negative
// timeout is refused, so no read waits without a deadline.
//
// Write goes through the O_NONBLOCK descriptor with a deadline in Go's
// poller (same tty, same termios and output queue). It returns ErrTimeout
// when the device accepts no byte for Config.WriteTimeout (default 5 s);
// a slow but moving device is never cut off. go.bug.st/serial's own
// blocking write cannot be woken once a device stops taking data.
//
// # Unplug
//
// A goroutine per port waits in poll(2) for POLLHUP/POLLERR on the tty, so
// a hangup marks the port gone even while nobody reads. Read and Write map
// EOF (go.bug.st's zero-length read, "PortClosed", is what a hung-up tty
// gives), EIO, ENXIO, ENODEV and any other unexpected I/O error to ErrGone
// and mark the port gone: Done is closed, Err says why, and every later
// call fails with ErrGone at once. No error state is sticky; the owner
// closes and reopens.
//
// # Close
//
// Close wakes a blocked Write (past deadline), discards unsent output
// (TCOFLUSH; it never drains, a stalled device must not hold it), closes
// go.bug.st's port, which wakes a blocked Read, and releases the flock.
//
// # Reopen
//
// Reopener is a Port that owns the open/close cycle: after ErrGone or a
// hangup it closes the port and reopens the same Config (re-resolving the
// link or USB id) with exponential backoff from 100 ms to 5 s and jitter
// (each wait is random in [d/2, d]), timed by an injected core/clock. The
// backoff resets only after the port stayed up for the maximum backoff, so
// a flapping device is not hammered. State changes arrive on Events:
// EventPresent, EventGone (with Status "gone", "missing", "busy" or
// "denied") and EventReopened, after which a driver re-initialises the
// device; Generation tells the same cheaply. Status and StatusOf give the
// device status strings ("ok", "gone", "busy", "missing", "denied").
//
// docs/serial.md records what was verified on pseudo-terminals.
package serialio
