// Package pn532 emulates an NXP PN532 contactless reader on its HSU (high
// speed UART) link, with virtual EMV cards from core/emv/emvtest in its RF
// field. An Emulator is a ptydev.Handler: possim puts it behind a
// pseudo-terminal, and the real driver (drivers/pn532 over go.bug.st/serial)
// talks to it as to the chip.
//
// The emulator is written from the PN532 user manual (NXP UM0701-02 Rev. 02,
// firmware V1.6) and does not import drivers/pn532: its frame handling is
// its own, so that the driver and the emulator check each other.
//
// What it implements, with the manual's sections:
//
//   - HSU wake-up: after power-on (each Serve session) the chip sleeps and
//     drops every byte until a 0x55 arrives (the 55 55 00 00 00 … preamble
//     that libnfc and drivers/pn532 send); then it decodes frames.
//   - Frames (§6.2.1): normal and extended information frames both ways, the
//     ACK frame (sent after every good command frame; from the host, it
//     aborts the command in progress), the NACK frame (from the host: the
//     last response frame is sent again), and the syntax error frame for an
//     unknown command or bad parameters. A frame with a wrong LCS or DCS is
//     not acknowledged: it is dropped, and the host resends it after its
//     ACK timeout (§6.2.3, 15 ms).
//   - Commands (§7): GetFirmwareVersion (PN532 V1.6: 32 01 06 07),
//     SAMConfiguration, RFConfiguration, InListPassiveTarget (106 kbps type
//     A; the command stays pending until a card is tapped, the host aborts
//     it, or a finite MxRtyPassiveActivation runs out), InDataExchange (with
//     the MI bit both ways), InDeselect, InSelect and InRelease.
//   - What libnfc's pn532_uart driver also needs (general.go, autopoll.go,
//     isodep.go): Diagnose (communication line, ROM, RAM, card presence
//     and antenna tests), ReadRegister and WriteRegister (a plain store:
//     only the CIU TxMode, RxMode, ManualRCV and BitFraming bits that
//     frame InCommunicateThru are read back by the emulator), SetParameters
//     (fAutomaticRATS decides whether a card is activated to ISO/IEC
//     14443-4), PowerDown (the chip sleeps until a 55 when HSU wake-up is
//     enabled, else until Reset), InAutoPoll (§7.3.13, nfc-poll) and
//     InCommunicateThru (§7.3.9): a frame in type B or FeliCa framing
//     reaches no card (status 01); a type A frame reaches the card in the
//     ISO/IEC 14443-4 PROTOCOL state, which handles I-blocks, R-blocks
//     (libnfc's presence check is an R(NAK)) and S(DESELECT) by the
//     block rules of ISO/IEC 14443-4; short frames, MIFARE-level targets
//     and chaining are not emulated and refused with the syntax error
//     frame.
//   - RF state (rfstate.go): InDeselect (or a raw S(DESELECT)) leaves the
//     card in HALT, where the next InListPassiveTarget (REQA) skips it
//     until it is reselected, tapped again, or the RF field goes off
//     (RFConfiguration, PowerDown, Reset); the field going off also voids
//     the activations.
//   - Control: Tap, TapTwo, Remove, Present, Reset, and fault knobs (SetFault):
//     lost ACKs, corrupt response checksums, stalls, line garbage and a card
//     pulled away during an exchange. Stats counts APDUs and bytes.
//
// docs/possim.md (PN532 section) lists every byte-level choice with its
// reference, and the card-read timings measured through this emulator.
package pn532
