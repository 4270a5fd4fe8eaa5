package pn532

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
	"github.com/posagent/posagent/core/emv/emvtest"

	"github.com/posagent/posagent/scripts/crosscheck"
)

// These tests check the emulator against libnfc 1.8 (Debian packages
// libnfc-bin, libnfc-examples, libnfc-pn53x-examples), an independent C
// implementation of the PN532 HSU protocol: its pn532_uart driver opens the
// emulator on a real pseudo-terminal (ptydev, paced at 115200 baud both
// ways, as possim runs it), with its own wake-up preamble, Diagnose,
// SetParameters, register accesses, RF configuration, InAutoPoll, raw
// InCommunicateThru frames and PowerDown. What libnfc reports is compared
// with the virtual cards. docs/pn532.md ("Checked against libnfc") lists
// what agreed and what was fixed.

// libnfcBaud is the HSU rate possim and libnfc's pn532_uart default use.
const libnfcBaud = 115200

// libnfcRig is an emulator served on a pseudo-terminal, as possim serves
// it, for libnfc to open.
type libnfcRig struct {
	emu  *Emulator
	dev  *ptydev.Device
	link string
}

func newLibnfcRig(t *testing.T) *libnfcRig {
	t.Helper()
	emu := New(Options{Baud: libnfcBaud})
	link := filepath.Join(t.TempDir(), "pn532")
	dev := ptydev.New(ptydev.Config{Name: "pn532", Link: link, Baud: libnfcBaud}, emu)
	ctx, cancel := context.WithCancel(context.Background())
	if err := dev.Plug(ctx); err != nil {
		cancel()
		t.Fatalf("plug: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		dev.Close()
	})
	return &libnfcRig{emu: emu, dev: dev, link: link}
}

// connstring points libnfc at the link: driver pn532_uart, the path, the
// baud rate.
func (r *libnfcRig) connstring() string {
	return fmt.Sprintf("pn532_uart:%s:%d", r.link, libnfcBaud)
}

// libnfcRun is one run of a libnfc tool.
type libnfcRun struct {
	tool   string
	args   []string
	stdin  string
	stdout string
	stderr string
	err    error
}

func (x libnfcRun) String() string {
	return fmt.Sprintf("$ %s %s (exit: %v)\n--- stdout ---\n%s--- stderr ---\n%s",
		filepath.Base(x.tool), strings.Join(x.args, " "), x.err, x.stdout, x.stderr)
}

// run runs a libnfc tool against the emulator only: no scan of other
// serial ports, the device given by LIBNFC_DEFAULT_DEVICE.
func (r *libnfcRig) run(t *testing.T, logLevel int, stdin, tool string, args ...string) libnfcRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(),
		"LIBNFC_DEFAULT_DEVICE="+r.connstring(),
		"LIBNFC_AUTO_SCAN=false",
		"LIBNFC_INTRUSIVE_SCAN=false",
		"LIBNFC_LOG_LEVEL="+strconv.Itoa(logLevel),
	)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after 15 s: %w", ctx.Err())
	}
	return libnfcRun{tool: tool, args: args, stdin: stdin, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// runOK runs a tool (log level 1: errors) and fails the test with its
// whole output, and that of a second run at log level 3 (every frame on
// the line), when it exits non-zero.
func (r *libnfcRig) runOK(t *testing.T, stdin, tool string, args ...string) libnfcRun {
	t.Helper()
	x := r.run(t, 1, stdin, tool, args...)
	if x.err != nil {
		r.fail(t, x, "%s failed", filepath.Base(tool))
	}
	return x
}

// fail reports a disagreement with libnfc's full output, then runs the
// same command again with LIBNFC_LOG_LEVEL=3 so that the frames show.
func (r *libnfcRig) fail(t *testing.T, x libnfcRun, format string, a ...any) {
	t.Helper()
	again := r.run(t, 3, x.stdin, x.tool, x.args...)
	t.Fatalf("%s\n%s\nemulator stats: %+v\n=== the same again with LIBNFC_LOG_LEVEL=3 ===\n%s",
		fmt.Sprintf(format, a...), x, r.emu.Stats(), again)
}

// fieldUIDs returns the UIDs the cards in the field chose for this tap.
func (r *libnfcRig) fieldUIDs() [][]byte {
	r.emu.mu.Lock()
	defer r.emu.mu.Unlock()
	var out [][]byte
	for _, fc := range r.emu.field {
		out = append(out, append([]byte(nil), fc.uid[:]...))
	}
	return out
}

// nfcTarget is one ISO/IEC 14443 A target as nfc-list prints it.
type nfcTarget struct {
	atqa, uid, sak, ats []byte
}

var (
	// "1 ISO14443A passive target(s) found:" (or "found." for 0, -v).
	reFound = regexp.MustCompile(`(?m)^(\d+) (.+?) passive target\(s\) found`)
	// "    ATQA (SENS_RES): 00  04  " and the like: a label, then hex
	// bytes separated by blanks.
	reField = regexp.MustCompile(`^\s*(ATQA \(SENS_RES\)|UID \(NFCID[13]\)|SAK \(SEL_RES\)|ATS):((?:\s+[0-9a-fA-F]{2})+)\s*$`)
)

// parseFound returns the target count nfc-list printed per modulation.
func parseFound(out string) map[string]int {
	found := map[string]int{}
	for _, m := range reFound.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		found[m[2]] = n
	}
	return found
}

// parseTypeA returns the ISO/IEC 14443 A targets in nfc-list's output,
// each starting at its "ISO/IEC 14443A (106 kbps) target:" line.
func parseTypeA(out string) ([]nfcTarget, error) {
	var ts []nfcTarget
	for line := range strings.Lines(out) {
		if strings.HasPrefix(strings.TrimSpace(line), "ISO/IEC 14443A (106 kbps) target:") {
			ts = append(ts, nfcTarget{})
			continue
		}
		m := reField.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil {
			continue
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("%q before any target line", strings.TrimSpace(line))
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[2]), ""))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", strings.TrimSpace(line), err)
		}
		t := &ts[len(ts)-1]
		switch {
		case strings.HasPrefix(m[1], "ATQA"):
			t.atqa = b
		case strings.HasPrefix(m[1], "UID"):
			t.uid = b
		case strings.HasPrefix(m[1], "SAK"):
			t.sak = b
		case m[1] == "ATS":
			t.ats = b
		}
	}
	return ts, nil
}

// checkTarget compares a target libnfc listed with what the emulated
// chip reports for a virtual card: SENS_RES, SEL_RES and the ATS of §7.3.5
// and the UID the card chose. libnfc prints the ATS without its length
// byte TL (and labels a random UID, first byte 08, "NFCID3").
func checkTarget(got nfcTarget, uid []byte) error {
	want := nfcTarget{atqa: sensRes, uid: uid, sak: []byte{selResISO14443_4}, ats: ats[1:]}
	if !bytes.Equal(got.atqa, want.atqa) || !bytes.Equal(got.uid, want.uid) ||
		!bytes.Equal(got.sak, want.sak) || !bytes.Equal(got.ats, want.ats) {
		return fmt.Errorf("libnfc listed ATQA % X UID % X SAK % X ATS % X; the virtual card is ATQA % X UID % X SAK % X ATS % X",
			got.atqa, got.uid, got.sak, got.ats, want.atqa, want.uid, want.sak, want.ats)
	}
	return nil
}

// checkLine asserts that libnfc sent nothing the emulator had to drop or
// repeat: every frame was well formed and every response arrived intact.
func checkLine(t *testing.T, r *libnfcRig) {
	t.Helper()
	if st := r.emu.Stats(); st.BadFrames != 0 || st.NACKs != 0 || st.Commands == 0 {
		t.Fatalf("line not clean: %+v", st)
	}
}

// TestLibnfcScanDevice: nfc-scan-device opens the emulator (wake-up,
// SAMConfiguration, Diagnose, GetFirmwareVersion, SetParameters) and
// reports a PN532 with the emulator's firmware version.
func TestLibnfcScanDevice(t *testing.T) {
	tool := crosscheck.Tool(t, "nfc-scan-device", "apt-get install -y libnfc-bin")
	r := newLibnfcRig(t)
	x := r.runOK(t, "", tool, "-v")
	if !strings.Contains(x.stdout, "1 NFC device(s) found") || !strings.Contains(x.stdout, r.connstring()) {
		r.fail(t, x, "libnfc did not find exactly our device")
	}
	// GetFirmwareVersion answers IC, Ver, Rev: libnfc prints "PN5<IC> v<Ver>.<Rev>".
	chip := fmt.Sprintf("chip: PN5%02X v%d.%d", firmwareVersion[0], firmwareVersion[1], firmwareVersion[2])
	if !strings.Contains(x.stdout, chip) {
		r.fail(t, x, "want %q", chip)
	}
	checkLine(t, r)
}

// TestLibnfcDiagnose: pn53x-diagnose runs the communication line, ROM and
// RAM self tests (Diagnose, §7.2.1).
func TestLibnfcDiagnose(t *testing.T) {
	tool := crosscheck.Tool(t, "pn53x-diagnose", "apt-get install -y libnfc-pn53x-examples")
	r := newLibnfcRig(t)
	x := r.runOK(t, "", tool)
	for _, test := range []string{"Communication line test", "ROM test", "RAM test"} {
		if !regexp.MustCompile(`(?m)^\s*` + test + `: OK\s*$`).MatchString(x.stdout) {
			r.fail(t, x, "%s not OK", test)
		}
	}
	checkLine(t, r)
}

// TestLibnfcListOneCard: nfc-list, polling every modulation libnfc knows,
// finds the tapped UnionPay card as the one ISO/IEC 14443 A target and
// nothing else. It runs after nfc-scan-device, which left the chip in
// PowerDown: nfc-list must wake it again.
func TestLibnfcListOneCard(t *testing.T) {
	scan := crosscheck.Tool(t, "nfc-scan-device", "apt-get install -y libnfc-bin")
	list := crosscheck.Tool(t, "nfc-list", "apt-get install -y libnfc-bin")
	r := newLibnfcRig(t)
	r.emu.Tap(emvtest.UnionPay())
	r.runOK(t, "", scan, "-v")
	x := r.runOK(t, "", list, "-v")
	found := parseFound(x.stdout)
	if found["ISO14443A"] != 1 {
		r.fail(t, x, "want 1 ISO14443A target, parsed %v", found)
	}
	for mod, n := range found {
		if mod != "ISO14443A" && n != 0 {
			r.fail(t, x, "%d %s targets: the field holds one type A card only", n, mod)
		}
	}
	if len(found) < 10 {
		r.fail(t, x, "nfc-list reported %d modulations, want the 10 of libnfc 1.8: %v", len(found), found)
	}
	ts, err := parseTypeA(x.stdout)
	if err != nil || len(ts) != 1 {
		r.fail(t, x, "parsed %d targets (%v)", len(ts), err)
	}
	if err := checkTarget(ts[0], r.fieldUIDs()[0]); err != nil {
		r.fail(t, x, "%v", err)
	}
	checkLine(t, r)
}

// TestLibnfcListNoCard: with an empty field nfc-list finds no target; the
// emulator's finite poll (MxRtyPassiveActivation from RFConfiguration)
// ends every InListPassiveTarget with NbTg 0 within libnfc's timeout.
func TestLibnfcListNoCard(t *testing.T) {
	tool := crosscheck.Tool(t, "nfc-list", "apt-get install -y libnfc-bin")
	r := newLibnfcRig(t)
	x := r.runOK(t, "", tool, "-v", "-t", "1")
	if found := parseFound(x.stdout); len(found) != 1 || found["ISO14443A"] != 0 {
		r.fail(t, x, "want \"0 ISO14443A passive target(s) found\", parsed %v", found)
	}
	if ts, _ := parseTypeA(x.stdout); len(ts) != 0 {
		r.fail(t, x, "listed %d targets in an empty field", len(ts))
	}
	checkLine(t, r)
}

// TestLibnfcListTwoCards: libnfc lists several type A cards by polling
// with MaxTg 1 and deselecting each card found (InDeselect puts it in
// HALT, where it ignores the next poll's REQA). Both cards are listed.
func TestLibnfcListTwoCards(t *testing.T) {
	tool := crosscheck.Tool(t, "nfc-list", "apt-get install -y libnfc-bin")
	r := newLibnfcRig(t)
	r.emu.TapTwo(emvtest.UnionPay(), emvtest.Visa())
	x := r.runOK(t, "", tool, "-t", "1")
	if found := parseFound(x.stdout); found["ISO14443A"] != 2 {
		r.fail(t, x, "want 2 ISO14443A targets, parsed %v", found)
	}
	ts, err := parseTypeA(x.stdout)
	if err != nil || len(ts) != 2 {
		r.fail(t, x, "parsed %d targets (%v)", len(ts), err)
	}
	uids := r.fieldUIDs()
	for _, tg := range ts {
		i := slices.IndexFunc(uids, func(u []byte) bool { return bytes.Equal(u, tg.uid) })
		if i < 0 {
			r.fail(t, x, "listed UID % X is not in the field (% X)", tg.uid, uids)
		}
		if err := checkTarget(tg, uids[i]); err != nil {
			r.fail(t, x, "%v", err)
		}
		uids = slices.Delete(uids, i, i+1)
	}
	checkLine(t, r)
}

// reRx matches the answers pn53x-tamashell prints: "Rx: 01  01  00 ..."
// (the data after the response code).
var reRx = regexp.MustCompile(`(?m)Rx:((?:\s+[0-9a-fA-F]{2})*)\s*$`)

// TestLibnfcTamashellSelectPPSE: pn53x-tamashell sends raw PN532 commands
// that libnfc frames: InListPassiveTarget (one 106 kbps type A target),
// then InDataExchange with SELECT 2PAY.SYS.DDF01. The answer is status 00
// and the card's FCI (6F …) with SW 90 00.
func TestLibnfcTamashellSelectPPSE(t *testing.T) {
	tool := crosscheck.Tool(t, "pn53x-tamashell", "apt-get install -y libnfc-pn53x-examples")
	r := newLibnfcRig(t)
	r.emu.Tap(emvtest.UnionPay())
	script := fmt.Sprintf("// poll one 106 kbps type A target\n4A 01 00\n// SELECT PPSE to Tg 1\n40 01 %X\n", selectPPSE)
	ans, x := r.tamashellRx(t, tool, script, 2)
	// InListPassiveTarget: NbTg 1, Tg 1, SENS_RES, SEL_RES, NFCIDLength, UID, ATS.
	uid := r.fieldUIDs()[0]
	want := append(append(append([]byte{0x01, 0x01}, sensRes...), selResISO14443_4, byte(len(uid))), uid...)
	want = append(want, ats...)
	if !bytes.Equal(ans[0], want) {
		r.fail(t, x, "InListPassiveTarget answered % X, want % X", ans[0], want)
	}
	// InDataExchange: Status 00, then the R-APDU.
	resp := ans[1]
	if len(resp) < 4 || resp[0] != statusOK || resp[1] != 0x6F || !bytes.Equal(resp[len(resp)-2:], []byte{0x90, 0x00}) {
		r.fail(t, x, "InDataExchange answered % X, want status 00, FCI template 6F, SW 90 00", resp)
	}
	if ref := emvtest.UnionPay().Respond(selectPPSE); !bytes.Equal(resp[1:], ref) {
		r.fail(t, x, "R-APDU % X, the card answers % X", resp[1:], ref)
	}
	if st := r.emu.Stats(); st.APDUs != 1 {
		r.fail(t, x, "the card ran %d APDUs, want 1", st.APDUs)
	}
	checkLine(t, r)
}

// TestLibnfcParsers checks the output parsers on nfc-list's format, so a
// change of format fails here and not as a false agreement.
func TestLibnfcParsers(t *testing.T) {
	out := "nfc-list uses libnfc 1.8.0\nNFC device: x opened\n1 ISO14443A passive target(s) found:\n" +
		"ISO/IEC 14443A (106 kbps) target:\n    ATQA (SENS_RES): 00  04  \n       UID (NFCID3): 08  88  8c  d8  \n" +
		"      SAK (SEL_RES): 20  \n                ATS: 78  80  70  02  \n\n0 Felica (212 kbps) passive target(s) found.\n"
	found := parseFound(out)
	if found["ISO14443A"] != 1 || found["Felica (212 kbps)"] != 0 || len(found) != 2 {
		t.Fatalf("parseFound: %v", found)
	}
	ts, err := parseTypeA(out)
	if err != nil || len(ts) != 1 {
		t.Fatalf("parseTypeA: %v %v", ts, err)
	}
	if err := checkTarget(ts[0], []byte{0x08, 0x88, 0x8c, 0xd8}); err != nil {
		t.Fatal(err)
	}
	if err := checkTarget(ts[0], []byte{0x08, 0x88, 0x8c, 0xd9}); err == nil {
		t.Fatal("checkTarget accepted a wrong UID")
	}
	if _, err := parseTypeA("      SAK (SEL_RES): 20\n"); err == nil {
		t.Fatal("a field before any target line was accepted")
	}
	if m := reRx.FindAllStringSubmatch("> 4A 01 00\nTx: 4a  01  00  \nRx: 00  6f  90  00  \n", -1); len(m) != 1 || strings.Join(strings.Fields(m[0][1]), "") != "006f9000" {
		t.Fatalf("reRx: %q", m)
	}
}

// TestLibnfcPollUntilRemoved: nfc-poll finds the card with InAutoPoll
// (§7.3.13), then checks that it is still there, again and again, with a
// raw R(NAK) block through InCommunicateThru (libnfc's presence check for
// an ISO/IEC 14443-4 type A target), until the card is taken away.
func TestLibnfcPollUntilRemoved(t *testing.T) {
	tool := crosscheck.Tool(t, "nfc-poll", "apt-get install -y libnfc-examples")
	r := newLibnfcRig(t)
	r.emu.Tap(emvtest.UnionPay())
	uid := r.fieldUIDs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool)
	cmd.Env = append(os.Environ(), "LIBNFC_DEFAULT_DEVICE="+r.connstring(),
		"LIBNFC_AUTO_SCAN=false", "LIBNFC_INTRUSIVE_SCAN=false", "LIBNFC_LOG_LEVEL=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", tool, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	x := libnfcRun{tool: tool}
	finish := func(err error) libnfcRun {
		x.stdout, x.stderr, x.err = stdout.String(), stderr.String(), err
		return x
	}
	// Wait for a few presence checks the card answered.
	const pings = 5
	for r.emu.Stats().RawFrames < pings {
		select {
		case err := <-done:
			r.fail(t, finish(err), "nfc-poll ended before %d presence checks with the card still in the field", pings)
		case <-ctx.Done():
			cancel()
			r.fail(t, finish(<-done), "no %d presence checks within 15 s", pings)
		case <-time.After(5 * time.Millisecond):
		}
	}
	r.emu.Remove()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = <-done
	}
	x = finish(err)
	if err != nil {
		r.fail(t, x, "nfc-poll failed")
	}
	ts, perr := parseTypeA(x.stdout)
	if perr != nil || len(ts) != 1 {
		r.fail(t, x, "parsed %d targets (%v)", len(ts), perr)
	}
	if err := checkTarget(ts[0], uid); err != nil {
		r.fail(t, x, "%v", err)
	}
	if !strings.Contains(x.stdout, "Waiting for card removing...done.") {
		r.fail(t, x, "nfc-poll did not wait for the removal")
	}
	checkLine(t, r)
}

// tamashellRx runs a pn53x-tamashell script and returns the data of every
// "Rx:" line (the answer after the response code).
func (r *libnfcRig) tamashellRx(t *testing.T, tool, script string, want int) ([][]byte, libnfcRun) {
	t.Helper()
	x := r.runOK(t, script, tool)
	rx := reRx.FindAllStringSubmatch(x.stdout, -1)
	if len(rx) != want {
		r.fail(t, x, "want %d Rx lines, got %d", want, len(rx))
	}
	out := make([][]byte, len(rx))
	for i, m := range rx {
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[1]), ""))
		if err != nil {
			r.fail(t, x, "Rx line %d: %v", i, err)
		}
		out[i] = b
	}
	return out, x
}

// TestLibnfcTamashellExtendedAndMI: libnfc decodes the emulator's extended
// response frames (the Mastercard certificate record: 258 bytes of R-APDU,
// LEN 261) and follows the MI bit of a 263-byte R-APDU the way the
// emulator expects: libnfc's pn53x_transceive sends the continuation as
// InDataExchange with Tg alone, and joins the parts. (263 bytes is the
// most pn53x-tamashell's 264-byte buffer holds with the status byte.)
func TestLibnfcTamashellExtendedAndMI(t *testing.T) {
	tool := crosscheck.Tool(t, "pn53x-tamashell", "apt-get install -y libnfc-pn53x-examples")
	r := newLibnfcRig(t)
	r.emu.Tap(emvtest.Mastercard())
	readRec := []byte{0x00, 0xB2, 0x02, 3<<3 | 4, 0x00}
	script := fmt.Sprintf("4A 01 00\n40 01 %X\n40 01 %X\n40 01 %X\n", selectPPSE, selectAID(emvtest.AIDMastercard), readRec)
	rx, x := r.tamashellRx(t, tool, script, 4)
	ref := emvtest.Mastercard()
	ref.Respond(selectPPSE)
	ref.Respond(selectAID(emvtest.AIDMastercard))
	want := ref.Respond(readRec)
	if len(want) != 258 {
		t.Fatalf("test card changed: the record is %d bytes, want 258", len(want))
	}
	if got := rx[3]; len(got) == 0 || got[0] != statusOK || !bytes.Equal(got[1:], want) {
		r.fail(t, x, "READ RECORD through an extended frame: % X, want 00 + % X", got, want)
	}

	card := emvtest.Visa()
	long := make([]byte, 0, 263)
	for i := range 261 {
		long = append(long, byte(i%251))
	}
	long = append(long, 0x90, 0x00)
	probe := []byte{0x80, 0xCA, 0x9F, 0x7F, 0x00}
	card.Script = append([]emvtest.Exchange{{Command: probe, Response: long}}, card.Script...)
	r.emu.Tap(card)
	before := r.emu.Stats()
	rx, x = r.tamashellRx(t, tool, fmt.Sprintf("4A 01 00\n40 01 %X\n", probe), 2)
	if got := rx[1]; len(got) == 0 || got[0] != statusOK || !bytes.Equal(got[1:], long) {
		r.fail(t, x, "263-byte R-APDU through MI: %d bytes, status % X", len(got)-1, got[:min(1, len(got))])
	}
	after := r.emu.Stats()
	if after.APDUs-before.APDUs != 1 || after.Commands-before.Commands < 2 {
		r.fail(t, x, "APDUs %d (want 1: the continuation must not reach the card)", after.APDUs-before.APDUs)
	}
	checkLine(t, r)
}
