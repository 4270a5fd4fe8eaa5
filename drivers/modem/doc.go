// Package modem drives a Quectel EC2x-class 4G modem (EC25, EC21, EG25,
// EG91, …) over its AT port: an AT command client, pure parsers for the
// answers the agent needs, a status snapshot and a connectivity watch for
// store-and-forward, and a recovery ladder for a modem that stops
// answering.
//
// # AT client
//
// One reader goroutine cuts the byte stream into lines at CR or LF and
// dispatches each: the echo of the pending command (ATE1 still on) is
// dropped; a final result code (OK, ERROR, +CME ERROR: n, +CMS ERROR: n)
// completes it; an information line the command asked for is its answer;
// everything else (RDY, +CEREG:, +CPIN:, +QIND:, POWERED DOWN, unknown
// text) goes to the URC channel. A "+CEREG: 1" URC arriving while
// AT+CEREG? is pending is told from the answer "+CEREG: 0,1" by its form
// (the answer starts with two bare integers <n>,<stat>). Commands go one
// at a time, at least 20 ms after the last final result code or URC. A
// command without a final result before its deadline fails with a
// *TimeoutError naming it; the client stays usable: before the next
// command it sends an "AT" probe and swallows every answer until the line
// is quiet, so a late answer is not taken for the next command's.
//
// # Port
//
// Port has the method set of drivers/serialio's SerialPort and of
// go.bug.st/serial's port; this package imports neither. A Read timeout
// is (0, nil) or an error Options.IsTimeout accepts (by default one
// wrapping os.ErrDeadlineExceeded or with a Timeout() bool method). Any
// other Read or Write error means the port is gone (a USB modem drops
// off the bus on AT+CFUN=1,1 and on power cycles, and comes back under a
// new name): commands then fail with ErrGone, PortLost is closed, and the
// owner (board wiring with serialio's reopener) hands over the new port
// with Reattach.
//
// # Recovery
//
// Liveness sends "AT" whatever the data state, because an EG91 firmware
// bug stops the AT channel while data keeps flowing. Recover escalates:
// re-init, then AT+CFUN=0/1 (or AT+CFUN=1,1), then a power-key pulse
// through the board's Options.PowerKey hook, waiting for RDY and
// re-initialising after each reset; every step is bounded and reported.
//
// # Sources
//
//   - 3GPP TS 27.007: +CSQ (§8.5), +CPIN (§8.3), +CREG (§7.2), +CGREG
//     (§10.1.20), +CEREG (§10.1.22), +COPS (§7.3), +CMEE and the +CME
//     ERROR codes (§9.1, §9.2).
//   - Quectel EC25&EC21 AT Commands Manual (V1.3): ATI, AT+QCCID,
//     AT+QSCLK, AT+CFUN, AT+QENG="servingcell", URCs (RDY, POWERED DOWN,
//     +QIND); Quectel EC2x GNSS application note: AT+QGPS, AT+QGPSLOC.
//
// docs/modem.md lists the formats, which facts were checked against
// which source, and what is unverified.
package modem
