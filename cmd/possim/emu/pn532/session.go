package pn532

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"
)

// Command codes (§7, command table); the response code is the command
// code + 1.
const (
	cmdGetFirmwareVersion  byte = 0x02 // §7.2.2
	cmdSAMConfiguration    byte = 0x14 // §7.2.10
	cmdRFConfiguration     byte = 0x32 // §7.3.1
	cmdInDataExchange      byte = 0x40 // §7.3.8
	cmdInDeselect          byte = 0x44 // §7.3.10
	cmdInListPassiveTarget byte = 0x4A // §7.3.5
	cmdInRelease           byte = 0x52 // §7.3.11
	cmdInSelect            byte = 0x54 // §7.3.12
)

// Status codes the emulator reports (§7.1).
const (
	statusOK         byte = 0x00
	statusTimeout    byte = 0x01 // the target has not answered
	statusNotAllowed byte = 0x27 // command not acceptable in the current context
	statusMI         byte = 0x40 // more information: the response continues
)

// Limits of the chip.
const (
	// maxDataIn is the most DataIn bytes one InDataExchange response frame
	// carries: 264 packet data bytes less the response code and the status
	// byte. A longer answer from the card is handed over in parts with MI.
	maxDataIn = 262
	// maxHostChain bounds a C-APDU the host sends in parts with MI set.
	maxHostChain = 65544
)

// The identity the chip reports to GetFirmwareVersion: a PN532 (IC 32)
// with firmware V1.6 supporting ISO/IEC 14443 A, B and ISO 18092 (07).
var firmwareVersion = []byte{0x32, 0x01, 0x06, 0x07}

// Target data of an emulated ISO/IEC 14443-4 type A card (§7.3.5): SENS_RES
// (ATQA) 00 04 for a single-size UID, SEL_RES (SAK) 20 for ISO/IEC 14443-4
// compliance, and the ATS: TL 05, T0 78 (TA TB TC follow, FSCI 8 = 256
// bytes), TA 80, TB 70 (FWI 7, SFGI 0), TC 02 (CID supported).
var (
	sensRes = []byte{0x00, 0x04}
	ats     = []byte{0x05, 0x78, 0x80, 0x70, 0x02}
)

const selResISO14443_4 byte = 0x20

// rfConfigLen is the ConfigurationData length of each RFConfiguration
// item (§7.3.1): RF field, various timings, MaxRtyCOM, MaxRetries, analog
// settings for 106 kbps type A, 212/424 kbps, type B and 212-848 kbps
// ISO/IEC 14443-4.
var rfConfigLen = map[byte]int{0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9}

// garbagePattern is what the Garbage fault sends: noise with no 00 byte,
// so it can never contain a start code, with FF to tempt a decoder.
var garbagePattern = []byte{0xE3, 0xFF, 0x1C, 0x7E, 0xA5, 0xFF, 0xFF, 0x55, 0xD5, 0x4B, 0x01}

// target is one card the chip has activated (InListPassiveTarget).
type target struct {
	tg     byte
	fc     fieldCard
	gen    uint64 // field generation at activation
	active bool   // false after InDeselect
	// iso4 is set when the activation went on to ISO/IEC 14443-4 (RATS,
	// with SetParameters fAutomaticRATS): only then does the chip wrap
	// DataOut in I-blocks for the card.
	iso4  bool
	chain []byte // rest of an R-APDU held back behind MI
	// piccBN is the card's ISO/IEC 14443-4 block number (1 after
	// activation, toggled by every I-block it receives) and lastBlock the
	// last I-block it sent (PCB and INF), for raw R-blocks sent through
	// InCommunicateThru (isodep.go). The emulated chip and card exchange
	// one I-block each way per APDU.
	piccBN    byte
	lastBlock []byte
}

// pending is what the chip is busy with between host frames.
type pending struct {
	name string
	// frame is a response waiting for due (a stall, a card timeout).
	frame []byte
	// poll is an InListPassiveTarget waiting for cards; due, when set, is
	// when a finite MxRtyPassiveActivation gives up.
	poll *pollReq
	due  time.Time
}

type pollReq struct {
	maxTg int
	brTy  byte
	uid   []byte // InitiatorData: only this card, when set
	rats  bool   // activate ISO/IEC 14443-4 cards (RATS) too
	// auto holds InAutoPoll's target types, in polling order; nil for
	// InListPassiveTarget.
	auto []byte
}

// session is one power-on of the chip: the state the firmware keeps in RAM.
type session struct {
	ctx      context.Context
	e        *Emulator
	w        io.Writer
	rx       []byte
	asleep   bool
	lineFree time.Time // when the last received byte has crossed the wire
	lastRx   time.Time // when the last bytes came in

	last      []byte // last response frame, intact, for a NACK
	pend      *pending
	targets   []*target
	hostChain []byte // C-APDU parts received with MI set
	rfRetries byte   // MxRtyPassiveActivation; FF = poll forever
	resets    uint64 // Emulator.resets when this power-on began
	params    byte   // SetParameters flags (§7.2.9)
	// deaf is set by a PowerDown whose WakeUpEnable lacks the HSU bit:
	// the line cannot wake the chip, only a reset can.
	deaf bool
	// regs holds what WriteRegister stored, for ReadRegister. It is a
	// plain store: no register changes how the emulated RF front end
	// behaves.
	regs map[uint16]byte
}

// newSession is the chip's state at power-on: asleep, nothing listed,
// endless polling.
func newSession(ctx context.Context, e *Emulator, w io.Writer) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fieldOffLocked() // an unpowered chip has no RF field
	return &session{ctx: ctx, e: e, w: w, asleep: true, rfRetries: 0xFF, resets: e.resets, params: paramDefault}
}

// feed takes bytes from the line.
func (s *session) feed(chunk []byte) {
	e := s.e
	e.count(func(st *Stats) { st.RxBytes += int64(len(chunk)) })
	s.lastRx = e.clk.Now()
	if e.opts.Baud > 0 {
		now := e.clk.Now()
		start := s.lineFree
		if start.Before(now) {
			start = now
		}
		s.lineFree = start.Add(time.Duration(len(chunk)) * time.Second * 10 / time.Duration(e.opts.Baud))
	}
	if s.asleep {
		if s.deaf {
			return // powered down with no HSU wake-up: only a reset helps
		}
		i := bytes.IndexByte(chunk, 0x55)
		if i < 0 {
			return // asleep: the bytes are lost
		}
		s.asleep = false
		e.log.Debug("pn532 emulator: woken by 55")
		chunk = chunk[i+1:]
	}
	s.rx = append(s.rx, chunk...)
}

// step handles every complete frame received and moves the pending work
// on.
func (s *session) step() error {
	for {
		f, n := scanHost(s.rx)
		if f.kind == hostNeedMore {
			s.drop(n)
			break
		}
		data := append([]byte(nil), f.data...)
		s.drop(n)
		s.waitWire()
		if err := s.handle(f, data); err != nil {
			return err
		}
	}
	return s.progress()
}

// expirePartial gives up a frame that stopped arriving: its start code is
// dropped and the rest scanned again.
func (s *session) expirePartial() {
	if len(s.rx) == 0 || s.e.clk.Now().Sub(s.lastRx) < s.e.opts.FrameTimeout {
		return
	}
	if i := bytes.Index(s.rx, startCode); i >= 0 {
		s.e.count(func(st *Stats) { st.BadFrames++ })
		s.e.log.Debug("pn532 emulator: gave up a truncated frame")
		s.drop(i + len(startCode))
		return
	}
	s.drop(len(s.rx))
}

func (s *session) drop(n int) {
	if n <= 0 {
		return
	}
	s.rx = append(s.rx[:0], s.rx[n:]...)
}

// waitWire waits until the bytes received so far would have crossed the
// wire at Options.Baud.
func (s *session) waitWire() {
	if s.e.opts.Baud <= 0 {
		return
	}
	if d := s.lineFree.Sub(s.e.clk.Now()); d > 0 {
		select {
		case <-s.e.clk.After(d):
		case <-s.ctx.Done():
		}
	}
}

func (s *session) handle(f hostFrame, data []byte) error {
	e := s.e
	switch f.kind {
	case hostBad:
		// §6.2.1.3: the ACK says a frame was received successfully; a
		// damaged frame gets nothing, and the host resends it after its
		// ACK timeout (§6.2.3).
		e.count(func(st *Stats) { st.BadFrames++ })
		e.log.Debug("pn532 emulator: dropped a bad host frame", "why", f.why)
		return nil
	case hostACK:
		// §6.2.1.3: an ACK from the host aborts the command in progress.
		if s.pend != nil {
			e.log.Debug("pn532 emulator: command aborted by host", "cmd", s.pend.name)
			s.pend = nil
			e.count(func(st *Stats) { st.Aborts++ })
		}
		return nil
	case hostNACK:
		// §6.2.1.4: send the last response frame again. Nothing to resend
		// while a command is still running.
		if s.pend != nil || s.last == nil {
			return nil
		}
		e.count(func(st *Stats) { st.NACKs++ })
		return s.send(s.last, true)
	}
	e.count(func(st *Stats) { st.Commands++ })
	if s.pend != nil {
		// A new command frame ends the one in progress.
		e.log.Debug("pn532 emulator: command superseded", "cmd", s.pend.name)
		s.pend = nil
		e.count(func(st *Stats) { st.Aborts++ })
	}
	if err := s.sendACK(); err != nil {
		return err
	}
	return s.execute(data[0], data[1:])
}

// execute runs one command (after its ACK).
func (s *session) execute(cmd byte, p []byte) error {
	e := s.e
	e.log.Debug("pn532 emulator: command", "cmd", commandName(cmd), "params_len", len(p))
	switch cmd {
	case cmdDiagnose:
		return s.diagnose(p)
	case cmdReadRegister:
		return s.readRegister(p)
	case cmdWriteRegister:
		return s.writeRegister(p)
	case cmdSetParameters:
		return s.setParameters(p)
	case cmdPowerDown:
		return s.powerDown(p)
	case cmdInCommunicateThru:
		return s.inCommunicateThru(p)
	case cmdInAutoPoll:
		return s.inAutoPoll(p)
	case cmdGetFirmwareVersion:
		return s.respond(cmd, firmwareVersion, 0)
	case cmdSAMConfiguration:
		// Mode 01..04, then an optional timeout and IRQ byte (§7.2.10).
		// The emulated chip has no SAM: every mode behaves as normal mode.
		if len(p) < 1 || len(p) > 3 || p[0] < 0x01 || p[0] > 0x04 {
			return s.syntaxError(cmd, "mode/length")
		}
		return s.respond(cmd, nil, 0)
	case cmdRFConfiguration:
		return s.rfConfiguration(p)
	case cmdInListPassiveTarget:
		return s.inListPassiveTarget(p)
	case cmdInDataExchange:
		return s.inDataExchange(p)
	case cmdInDeselect, cmdInRelease, cmdInSelect:
		return s.targetCommand(cmd, p)
	}
	return s.syntaxError(cmd, "unknown command")
}

func (s *session) rfConfiguration(p []byte) error {
	if len(p) < 1 {
		return s.syntaxError(cmdRFConfiguration, "no CfgItem")
	}
	want, ok := rfConfigLen[p[0]]
	if !ok || len(p)-1 != want {
		return s.syntaxError(cmdRFConfiguration, "CfgItem/length")
	}
	switch p[0] {
	case 0x05:
		s.rfRetries = p[3] // MxRtyATR, MxRtyPSL, MxRtyPassiveActivation
	case 0x01:
		if p[1]&0x01 == 0 {
			// RF field off: the cards lose power, so activations and
			// HALT states end. Switching it on needs no action:
			// InListPassiveTarget switches the field on itself.
			s.e.fieldOff()
		}
	}
	// The analog settings change nothing here.
	return s.respond(cmdRFConfiguration, nil, 0)
}

func (s *session) inListPassiveTarget(p []byte) error {
	if len(p) < 2 || p[0] < 1 || p[0] > 2 || p[1] > 0x04 || (p[1] == 0x04 && p[0] != 1) {
		return s.syntaxError(cmdInListPassiveTarget, "MaxTg/BrTy")
	}
	// Listing starts afresh: targets of an earlier poll are forgotten.
	s.targets = nil
	s.hostChain = nil
	req := &pollReq{maxTg: int(p[0]), brTy: p[1], rats: s.params&paramAutoRATS != 0}
	if p[1] == 0x00 && len(p) > 2 {
		uid, ok := parseInitiatorUID(p[2:])
		if !ok {
			return s.syntaxError(cmdInListPassiveTarget, "InitiatorData")
		}
		req.uid = uid
	}
	s.pend = &pending{name: commandName(cmdInListPassiveTarget), poll: req}
	if s.rfRetries != 0xFF {
		s.pend.due = s.e.clk.Now().Add(time.Duration(int(s.rfRetries)+1) * s.e.opts.PollPeriod)
	}
	return s.progress()
}

// parseInitiatorUID strips the cascade tags (88) from a type A
// InitiatorData UID of 4, 7 or 10 bytes (§7.3.5).
func parseInitiatorUID(b []byte) ([]byte, bool) {
	switch {
	case len(b) == 4:
		return b, true
	case len(b) == 8 && b[0] == 0x88:
		return append(append([]byte(nil), b[1:4]...), b[4:]...), true
	case len(b) == 12 && b[0] == 0x88 && b[4] == 0x88:
		return append(append(append([]byte(nil), b[1:4]...), b[5:8]...), b[8:]...), true
	}
	return nil, false
}

// progress finishes pending work whose time or card has come.
func (s *session) progress() error {
	pd := s.pend
	if pd == nil {
		return nil
	}
	now := s.e.clk.Now()
	if pd.frame != nil {
		if now.Before(pd.due) {
			return nil
		}
		s.pend = nil
		return s.send(pd.frame, true)
	}
	if pd.poll.auto != nil {
		return s.progressAutoPoll(pd)
	}
	found := s.activate(pd.poll)
	if len(found) == 0 {
		if pd.due.IsZero() || now.Before(pd.due) {
			return nil // keep polling (§7.3.5: until a card comes or the host aborts)
		}
		s.pend = nil
		return s.respond(cmdInListPassiveTarget, []byte{0x00}, 0)
	}
	s.pend = nil
	s.targets = found
	out := []byte{byte(len(found))}
	for _, t := range found {
		out = append(out, t.targetData()...)
	}
	return s.respond(cmdInListPassiveTarget, out, 0)
}

// targetData is the 106 kbps type A target data of §7.3.5: Tg,
// SENS_RES, SEL_RES, NFCIDLength, NFCID1, and the ATS when the card was
// activated to ISO/IEC 14443-4.
func (t *target) targetData() []byte {
	out := append([]byte{t.tg}, sensRes...)
	out = append(out, selResISO14443_4, byte(len(t.fc.uid)))
	out = append(out, t.fc.uid[:]...)
	if t.iso4 {
		out = append(out, ats...)
	}
	return out
}

// activate returns the cards a poll finds, up to MaxTg, as new targets.
func (s *session) activate(req *pollReq) []*target {
	if req.brTy != 0x00 {
		return nil // only 106 kbps type A cards are ever in this field
	}
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*target
	for _, fc := range e.field {
		if req.uid != nil && !bytes.Equal(req.uid, fc.uid[:]) {
			continue
		}
		if fc.halted {
			continue // §7.3.5 polls with REQA, which a halted card ignores
		}
		if len(out) == req.maxTg {
			break
		}
		fc.card.Reset() // activation: RATS on a card that starts afresh
		out = append(out, &target{tg: byte(len(out) + 1), fc: fc, gen: e.gen, active: true,
			iso4: req.rats, piccBN: 1})
	}
	return out
}

func (s *session) findTarget(tg byte) *target {
	for _, t := range s.targets {
		if t.tg == tg {
			return t
		}
	}
	return nil
}

// present reports whether the target's card is still in the field as it
// was activated: no tap, removal or field reset since, and not taken away
// on its own (RemoveCard).
func (s *session) present(t *target) bool {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	if t.gen != s.e.gen {
		return false
	}
	for _, fc := range s.e.field {
		if fc.card == t.fc.card {
			return true
		}
	}
	return false
}

func (s *session) inDataExchange(p []byte) error {
	const cmd = cmdInDataExchange
	if len(p) < 1 || len(p)-1 > maxDataIn {
		return s.syntaxError(cmd, "Tg/DataOut length")
	}
	e := s.e
	mi := p[0]&0x40 != 0
	t := s.findTarget(p[0] &^ 0x40)
	out := p[1:]
	if t == nil {
		return s.respond(cmd, []byte{statusNotAllowed}, 0)
	}
	if !s.present(t) {
		// The card left: the chip retries, then gives up after the
		// frame waiting time with "time out" (§7.1 code 01).
		s.hostChain, t.chain = nil, nil
		return s.respond(cmd, []byte{statusTimeout}, e.opts.CardTimeout)
	}
	if t.active && s.cardHalted(t) {
		// A raw S(DESELECT) (InCommunicateThru) halted the card behind
		// the chip's back: it ignores the I-block.
		s.hostChain, t.chain = nil, nil
		return s.respond(cmd, []byte{statusTimeout}, e.opts.CardTimeout)
	}
	if !t.iso4 {
		// Activated without RATS (fAutomaticRATS off): the chip sends
		// DataOut as a bare ISO/IEC 14443-3 frame, which an EMV card in
		// the ACTIVE state does not answer.
		s.hostChain = nil
		return s.respond(cmd, []byte{statusTimeout}, e.opts.CardTimeout)
	}
	if len(t.chain) > 0 {
		if len(out) == 0 && !mi {
			return s.sendPart(t)
		}
		t.chain = nil // a new exchange replaces the unread rest
	}
	if !t.active {
		// §7.3.8: a deselected target is selected again first (WUPA
		// wakes it from HALT).
		s.reselect(t)
	}
	if mi {
		// The host sends a long C-APDU in parts: keep this one, the card
		// answers when the last part (MI clear) comes.
		if len(s.hostChain)+len(out) > maxHostChain {
			s.hostChain = nil
			return s.syntaxError(cmd, "chained DataOut too long")
		}
		s.hostChain = append(s.hostChain, out...)
		return s.respond(cmd, []byte{statusOK}, 0)
	}
	apdu := append(s.hostChain, out...)
	s.hostChain = nil

	e.mu.Lock()
	lost := false
	if e.fault.RemoveDuringExchange > 0 {
		e.fault.RemoveDuringExchange--
		if e.fault.RemoveDuringExchange == 0 {
			lost = true
		}
	}
	e.mu.Unlock()
	resp := t.fc.card.Respond(apdu)
	e.count(func(st *Stats) {
		st.APDUs++
		st.APDUBytesIn += int64(len(apdu))
		st.APDUBytesOut += int64(len(resp))
	})
	if lost {
		e.log.Debug("pn532 emulator: fault: card pulled away during the APDU")
		e.Remove()
		return s.respond(cmd, []byte{statusTimeout}, e.opts.CardTimeout)
	}
	t.piccBN ^= 1
	t.lastBlock = append([]byte{pcbI | t.piccBN}, resp...)
	t.chain = resp
	return s.sendPart(t)
}

// sendPart answers InDataExchange with the next part of the target's
// response: at most maxDataIn bytes, with MI set when more is held back.
func (s *session) sendPart(t *target) error {
	part := t.chain
	status := statusOK
	if len(part) > maxDataIn {
		part, status = part[:maxDataIn], statusMI
	}
	t.chain = t.chain[len(part):]
	if len(t.chain) == 0 {
		t.chain = nil
	}
	return s.respond(cmdInDataExchange, append([]byte{status}, part...), 0)
}

// targetCommand runs InDeselect, InRelease and InSelect: Tg in, Status out.
// Tg 0 means every target for InDeselect and InRelease (§7.3.10, §7.3.11).
func (s *session) targetCommand(cmd byte, p []byte) error {
	if len(p) != 1 {
		return s.syntaxError(cmd, "Tg")
	}
	tg := p[0]
	var hit []*target
	if tg == 0 && cmd != cmdInSelect {
		hit = s.targets
	} else if t := s.findTarget(tg); t != nil {
		hit = []*target{t}
	} else {
		return s.respond(cmd, []byte{statusNotAllowed}, 0)
	}
	switch cmd {
	case cmdInRelease:
		// An active target is deselected first (S(DESELECT), or HLTA
		// for a level-3 target), which puts its card in HALT: it stays
		// silent to the next InListPassiveTarget until it leaves the
		// field and comes back (a new tap).
		for _, t := range hit {
			if t.active {
				s.setHalted(t, true)
			}
		}
		kept := s.targets[:0]
		for _, t := range s.targets {
			if !containsTarget(hit, t) {
				kept = append(kept, t)
			}
		}
		s.targets = kept
		s.hostChain = nil
	case cmdInDeselect:
		for _, t := range hit {
			t.active, t.chain = false, nil
			// S(DESELECT) (HLTA for a level-3 target) puts the card
			// in HALT.
			s.setHalted(t, true)
		}
	case cmdInSelect:
		t := hit[0]
		if !s.present(t) {
			return s.respond(cmd, []byte{statusTimeout}, s.e.opts.CardTimeout)
		}
		if !t.active {
			s.reselect(t)
		}
	}
	return s.respond(cmd, []byte{statusOK}, 0)
}

func containsTarget(ts []*target, t *target) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// respond sends the response to cmd, after delay plus any stall.
func (s *session) respond(cmd byte, data []byte, delay time.Duration) error {
	frame := responseFrame(cmd+1, data)
	s.e.mu.Lock()
	delay += s.e.fault.Stall
	s.e.mu.Unlock()
	if delay > 0 {
		s.pend = &pending{name: commandName(cmd), frame: frame, due: s.e.clk.Now().Add(delay)}
		return nil
	}
	return s.send(frame, true)
}

// syntaxError answers with the error frame (§6.2.1.5).
func (s *session) syntaxError(cmd byte, why string) error {
	s.e.log.Debug("pn532 emulator: syntax error", "cmd", commandName(cmd), "why", why)
	s.e.count(func(st *Stats) { st.SyntaxErrors++ })
	return s.send(errorFrame, true)
}

func (s *session) sendACK() error {
	e := s.e
	e.mu.Lock()
	drop := e.fault.NoACK > 0
	if drop {
		e.fault.NoACK--
		e.stats.DroppedACKs++
	}
	e.mu.Unlock()
	if drop {
		e.log.Debug("pn532 emulator: fault: ACK lost on the line")
		return nil
	}
	e.count(func(st *Stats) { st.ACKs++ })
	return s.send(ackFrame, false)
}

// send writes a frame with any pending garbage before it. A response
// frame (response true) becomes the one a NACK repeats, and may be
// corrupted by the BadChecksum fault; what is kept for the NACK is intact.
func (s *session) send(frame []byte, response bool) error {
	e := s.e
	e.mu.Lock()
	garbage := e.fault.Garbage
	e.fault.Garbage = 0
	corrupt := response && e.fault.BadChecksum > 0
	if corrupt {
		e.fault.BadChecksum--
	}
	e.mu.Unlock()
	if response {
		s.last = frame
	}
	out := make([]byte, 0, garbage+len(frame))
	for i := range garbage {
		out = append(out, garbagePattern[i%len(garbagePattern)])
	}
	out = append(out, frame...)
	if corrupt {
		out[len(out)-2] ^= 0x5A // the DCS, just before the postamble
	}
	n, err := s.w.Write(out)
	e.count(func(st *Stats) {
		st.TxBytes += int64(n)
		st.GarbageBytes += int64(garbage)
		if corrupt {
			st.CorruptFrames++
		}
	})
	if err != nil {
		return fmt.Errorf("pn532 emulator: write: %w", err)
	}
	return nil
}

// commandName names a command code for logs.
func commandName(cmd byte) string {
	switch cmd {
	case cmdDiagnose:
		return "Diagnose"
	case cmdReadRegister:
		return "ReadRegister"
	case cmdWriteRegister:
		return "WriteRegister"
	case cmdSetParameters:
		return "SetParameters"
	case cmdPowerDown:
		return "PowerDown"
	case cmdInCommunicateThru:
		return "InCommunicateThru"
	case cmdInAutoPoll:
		return "InAutoPoll"

	case cmdGetFirmwareVersion:
		return "GetFirmwareVersion"
	case cmdSAMConfiguration:
		return "SAMConfiguration"
	case cmdRFConfiguration:
		return "RFConfiguration"
	case cmdInDataExchange:
		return "InDataExchange"
	case cmdInDeselect:
		return "InDeselect"
	case cmdInListPassiveTarget:
		return "InListPassiveTarget"
	case cmdInRelease:
		return "InRelease"
	case cmdInSelect:
		return "InSelect"
	}
	return fmt.Sprintf("0x%02X", cmd)
}
