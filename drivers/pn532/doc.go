// Package pn532 speaks to an NXP PN532 contactless reader over its HSU
// (high speed UART) link: a pure frame codec (frame.go) and a driver
// (pn532.go) over a four-method Transport.
//
// The codec builds host command frames (TFI D4) as normal or extended
// information frames and decodes the PN532's byte stream (ACK, NACK, error
// frame, normal and extended information frames), resynchronising on the
// 00 FF start code after garbage or a bad frame (DESIGN.md invariant 6: a
// bad frame costs at most that frame).
//
// The driver wakes the chip (55 55 00…, then SAMConfiguration), reads the
// firmware version, activates one ISO/IEC 14443 type A card at 106 kbps
// (InListPassiveTarget), exchanges APDUs with it (InDataExchange,
// following the MI "more information" bit) and releases it (InRelease).
// Every call takes a context and also has its own timeout, so no call can
// hang on a silent device (invariant 7). Two commands are never
// outstanding. A missing ACK resends only the idempotent commands
// (GetFirmwareVersion, SAMConfiguration, InRelease; UM §6.2.3), after an
// abort frame, and the duplicate ACK and answer that may follow are
// drained; InListPassiveTarget and InDataExchange are written once and
// wait for a late ACK or their response instead, so an APDU never reaches
// the card twice, and an APDU with no decoded answer is reported as
// ErrOutcomeUnknown. Stale input is drained before every command. A
// corrupt response is asked for again with a NACK (UM §6.2.1.4), and a
// command the host gives up on is aborted with an ACK frame
// (UM §6.2.1.3). Status codes of the chip are surfaced as *StatusError
// values that match the package's sentinel errors.
//
// No APDU payload, UID or response data is ever logged: EMV responses
// carry the PAN and track 2 equivalent data.
//
// # Datasheets
//
//   - NXP UM0701-02, PN532 User Manual Rev. 02 (firmware V1.6):
//     §6.2 frames and dialog, §7.1 error codes, §7.2.2 GetFirmwareVersion,
//     §7.2.10 SAMConfiguration, §7.3.5 InListPassiveTarget,
//     §7.3.8 InDataExchange, §7.3.11 InRelease.
//   - NXP AN10609, PN532 C106 application note: HSU wake-up from Low VBat
//     mode needs a SAMConfiguration command.
//
// docs/pn532.md records the library decision, frame formats, timing and
// ACK policy, the error code table and benchmark figures.
package pn532
