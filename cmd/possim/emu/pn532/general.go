package pn532

// This file holds the miscellaneous commands of UM0701-02 §7.2 that
// libnfc's pn532_uart driver sends when it opens and closes the chip
// (Diagnose, ReadRegister, WriteRegister, SetParameters, PowerDown). Our
// own driver does not use them; libnfc cannot open a chip without them.

// Command codes of §7.2 (the response code is the command code + 1).
const (
	cmdDiagnose      byte = 0x00 // §7.2.1
	cmdReadRegister  byte = 0x06 // §7.2.4
	cmdWriteRegister byte = 0x08 // §7.2.5
	cmdSetParameters byte = 0x12 // §7.2.9
	cmdPowerDown     byte = 0x16 // §7.2.11
)

// Diagnose tests (NumTst, §7.2.1) the emulator runs.
const (
	diagCommLine     byte = 0x00 // communication line test: echo
	diagROM          byte = 0x01 // ROM checksum test
	diagRAM          byte = 0x02 // RAM test
	diagCardPresence byte = 0x06 // attention request / ISO/IEC 14443-4 card presence
	diagAntenna      byte = 0x07 // antenna self test
)

// SetParameters flags (§7.2.9).
const (
	paramNADUsed       byte = 0x01
	paramDIDUsed       byte = 0x02
	paramAutoATRRes    byte = 0x04
	paramAutoRATS      byte = 0x10
	paramISO14443PICC  byte = 0x20
	paramNoPrePostAmbl byte = 0x40
	// paramRFU are the reserved bits 3 and 7, which must be 0.
	paramRFU byte = 0x88
	// paramDefault is the power-on value: automatic ATR_RES and RATS, as
	// a chip that was never sent SetParameters behaves (it activates
	// ISO/IEC 14443-4 cards and reports their ATS).
	paramDefault = paramAutoATRRes | paramAutoRATS
)

// PowerDown WakeUpEnable bits (§7.2.11): I2C 80, GPIO 40, SPI 20, HSU 10,
// RF level detector 08, bit 2 reserved, INT1 02, INT0 01.
const (
	wakeHSU byte = 0x10
	wakeRFU byte = 0x04
)

// maxDiagEcho is the most InParam bytes the communication line test
// echoes: 264 packet data bytes less the command code and NumTst. The
// frame layer already refuses a longer command (maxLength); the check in
// diagnose keeps the answer within one frame should that ever change.
const maxDiagEcho = 262

// diagnose runs one self test of §7.2.1. OutParam of the communication line
// test is NumTst and InParam again; the ROM and RAM tests answer 00 (no
// error, FF would be a fault); the card presence test answers a status
// byte for target 1 (00 present, 01 no answer, 27 when no ISO/IEC 14443-4
// target is active); the antenna self test answers 00 (antenna connected).
// The FeliCa polling test (04) and the echo back test (05) need a FeliCa
// card or an external initiator, which this RF field never holds: they are
// syntax errors here.
func (s *session) diagnose(p []byte) error {
	const cmd = cmdDiagnose
	if len(p) < 1 {
		return s.syntaxError(cmd, "no NumTst")
	}
	switch p[0] {
	case diagCommLine:
		if len(p)-1 > maxDiagEcho {
			return s.syntaxError(cmd, "InParam too long")
		}
		return s.respond(cmd, p, 0)
	case diagROM, diagRAM:
		if len(p) != 1 {
			return s.syntaxError(cmd, "ROM/RAM test takes no InParam")
		}
		return s.respond(cmd, []byte{0x00}, 0)
	case diagCardPresence:
		if len(p) != 1 {
			return s.syntaxError(cmd, "presence test takes no InParam")
		}
		t := s.findTarget(1)
		switch {
		case t == nil || !t.iso4 || !t.active:
			return s.respond(cmd, []byte{statusNotAllowed}, 0)
		case !s.inProtocol(t):
			return s.respond(cmd, []byte{statusTimeout}, s.e.opts.CardTimeout)
		}
		return s.respond(cmd, []byte{statusOK}, 0)
	case diagAntenna:
		if len(p) != 2 {
			return s.syntaxError(cmd, "antenna test takes one threshold byte")
		}
		return s.respond(cmd, []byte{0x00}, 0)
	}
	return s.syntaxError(cmd, "NumTst not emulated")
}

// readRegister answers the values of the registers at the given 16-bit
// addresses (ADRH ADRL pairs, §7.2.4). The PN532 answers the values alone,
// without the status byte the PN533 puts first.
func (s *session) readRegister(p []byte) error {
	const cmd = cmdReadRegister
	if len(p) == 0 || len(p)%2 != 0 {
		return s.syntaxError(cmd, "address list length")
	}
	out := make([]byte, 0, len(p)/2)
	for i := 0; i < len(p); i += 2 {
		out = append(out, s.regs[uint16(p[i])<<8|uint16(p[i+1])])
	}
	return s.respond(cmd, out, 0)
}

// writeRegister stores values at 16-bit addresses (ADRH ADRL VAL triples,
// §7.2.5) and answers with no data.
func (s *session) writeRegister(p []byte) error {
	const cmd = cmdWriteRegister
	if len(p) == 0 || len(p)%3 != 0 {
		return s.syntaxError(cmd, "address/value list length")
	}
	if s.regs == nil {
		s.regs = map[uint16]byte{}
	}
	for i := 0; i < len(p); i += 3 {
		s.regs[uint16(p[i])<<8|uint16(p[i+1])] = p[i+2]
	}
	return s.respond(cmd, nil, 0)
}

// setParameters replaces the internal flags (§7.2.9): one Flags byte whose
// reserved bits are 0.
func (s *session) setParameters(p []byte) error {
	const cmd = cmdSetParameters
	if len(p) != 1 || p[0]&paramRFU != 0 {
		return s.syntaxError(cmd, "Flags")
	}
	s.params = p[0]
	return s.respond(cmd, nil, 0)
}

// powerDown answers Status 00 and puts the chip in power down (§7.2.11):
// the RF field goes off, so activated targets lose power and are
// forgotten; the configuration (RAM) is kept. The chip then sleeps as at
// power-on: with the HSU bit set in WakeUpEnable, a 0x55 on the line wakes
// it; without it, the serial link cannot wake it and only a reset
// (Emulator.Reset) does. GenerateIRQ (the optional second byte) drives the
// P70_IRQ pin, which a serial link does not carry.
func (s *session) powerDown(p []byte) error {
	const cmd = cmdPowerDown
	if len(p) < 1 || len(p) > 2 || p[0]&wakeRFU != 0 || (len(p) == 2 && p[1] > 0x01) {
		return s.syntaxError(cmd, "WakeUpEnable/GenerateIRQ")
	}
	if err := s.respond(cmd, []byte{statusOK}, 0); err != nil {
		return err
	}
	s.targets, s.hostChain = nil, nil
	s.e.fieldOff()
	s.asleep = true
	s.deaf = p[0]&wakeHSU == 0
	s.e.log.Debug("pn532 emulator: power down", "hsu_wakeup", !s.deaf)
	return nil
}
