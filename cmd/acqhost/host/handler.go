package host

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/iso8583"
)

// reply is what the host does with one request.
type reply struct {
	// body is the answer (MAC included where due); nil: nothing to send.
	body []byte
	// noAnswer: the amount-98 rule decided not to answer.
	noAnswer bool
}

// handle processes one request body (MTI onwards) and returns what to
// send back. It never panics on any input, and it writes to the store
// only for a sign-in of a known terminal or a message whose MAC verifies.
func (s *Server) handle(body []byte) reply {
	s.stats.requests.Add(1)
	m, err := s.spec.Unpack(body)
	if err != nil {
		s.stats.malformed.Add(1)
		s.log.Warn("request dropped: does not decode", "err", err, "bytes", len(body))
		return reply{}
	}
	tid, okT := m.Get(41)
	_, okS := m.Get(11)
	resp, known := responseMTI(m.MTI)
	if !okT || !okS || resp == "" {
		s.stats.malformed.Add(1)
		s.log.Warn("request dropped: no MTI/STAN/TID to answer to", "mti", m.MTI, "has_11", okS, "has_41", okT)
		return reply{}
	}
	term := s.terms[tid]
	if term == nil {
		s.stats.unknownTerminal.Add(1)
		s.log.Warn("unknown terminal", "tid", tid, "mti", m.MTI)
		return s.plain(m, resp, RCUnknownTerminal)
	}
	switch m.MTI {
	case "0800":
		return s.signIn(term, m, resp)
	case "0820":
		return s.echo(term, m, resp)
	}
	keys := term.keys.Load()
	if keys == nil {
		s.stats.badMAC.Add(1)
		s.log.Warn("MAC not checkable: terminal has not signed in", "tid", tid, "mti", m.MTI)
		return s.plain(m, resp, RCBadMAC)
	}
	if _, err := s.spec.UnpackVerify(body, keys.mac); err != nil {
		s.stats.badMAC.Add(1)
		s.log.Warn("MAC check failed", "tid", tid, "mti", m.MTI, "err", err)
		return s.plain(m, resp, RCBadMAC)
	}
	if mid, _ := m.Get(42); mid != term.cfg.MID {
		return s.rejected(keys, m, resp, reject(RCInvalidMerchant, "field 42 %q is not the MID configured for %s", mid, tid))
	}
	if !known {
		return s.rejected(keys, m, resp, reject(RCInvalidTxn, "MTI %s is not in the dialect", m.MTI))
	}
	req, err := parseRequest(m, resp)
	if err != nil {
		var rj *rejection
		errors.As(err, &rj)
		return s.rejected(keys, m, resp, rj)
	}
	res, err := s.process(req)
	var rj *rejection
	switch {
	case errors.As(err, &rj):
		return s.rejected(keys, m, resp, rj)
	case err != nil:
		s.log.Error("request not processed", "tid", tid, "mti", m.MTI, "stan", req.stan, "err", err)
		return s.rejected(keys, m, resp, reject(RCSystemError, "host error"))
	}
	if res.repeat {
		s.stats.repeats.Add(1)
	}
	s.logTxn(req, &res)
	if res.txn.NoAnswer {
		s.stats.noAnswer.Add(1)
		return reply{noAnswer: true}
	}
	a, err := s.spec.Unpack(res.answer)
	if err == nil {
		var b []byte
		if b, err = s.spec.PackMAC(a, keys.mac); err == nil {
			return reply{body: b}
		}
	}
	s.log.Error("stored answer does not pack", "tid", tid, "stan", req.stan, "err", err)
	return reply{}
}

func (s *Server) logTxn(req *request, res *result) {
	t := &res.txn
	attrs := []any{"tid", t.TID, "batch", t.Batch, "stan", t.STAN, "mti", req.m.MTI, "type", t.Kind,
		"amount", t.Amount, "rc", t.RC, "state", t.State}
	if t.MaskedPAN != "" {
		attrs = append(attrs, "pan", t.MaskedPAN)
	}
	if res.repeat {
		attrs = append(attrs, "repeat", t.Repeats)
	}
	if t.Note != "" {
		attrs = append(attrs, "note", t.Note)
	}
	s.log.Info("answered", attrs...)
}

// plain answers with only 11, 39, 41, 42 and no MAC (97, A0).
func (s *Server) plain(m *iso8583.Message, resp, rc string) reply {
	b, err := s.spec.Pack(short(m, resp, rc))
	if err != nil {
		s.log.Error("answer does not pack", "mti", resp, "err", err)
		return reply{}
	}
	return reply{body: b}
}

// rejected answers a verified request with rj's code and a MAC, recording
// nothing.
func (s *Server) rejected(keys *sessionKeys, m *iso8583.Message, resp string, rj *rejection) reply {
	s.stats.rejected.Add(1)
	tid, _ := m.Get(41)
	stan, _ := m.Get(11)
	s.log.Warn("rejected", "tid", tid, "mti", m.MTI, "stan", stan, "rc", rj.rc, "why", rj.why)
	b, err := s.spec.PackMAC(short(m, resp, rj.rc), keys.mac)
	if err != nil {
		s.log.Error("answer does not pack", "mti", resp, "err", err)
		return reply{}
	}
	return reply{body: b}
}

// short is the minimal answer: 11, 39, 41, 42 (those the request had).
func short(m *iso8583.Message, resp, rc string) *iso8583.Message {
	a := iso8583.NewMessage(resp)
	copyFields(a, m, 11, 41, 42)
	a.Set(39, rc)
	return a
}

func copyFields(dst, src *iso8583.Message, fields ...int) {
	for _, n := range fields {
		if v, ok := src.GetBytes(n); ok {
			dst.SetBytes(n, v)
		}
	}
}

// echo answers 0820 with 0830: 11, 39, 41, 42, 60.
func (s *Server) echo(term *terminal, m *iso8583.Message, resp string) reply {
	rc := RCApproved
	if mid, _ := m.Get(42); mid != term.cfg.MID {
		rc = RCInvalidMerchant
	}
	a := short(m, resp, rc)
	copyFields(a, m, 60)
	b, err := s.spec.Pack(a)
	if err != nil {
		return reply{}
	}
	s.log.Debug("echo", "tid", term.cfg.TID, "rc", rc)
	return reply{body: b}
}

// signIn answers 0800 (60.3 = 004) with fresh working keys under the TMK.
func (s *Server) signIn(term *terminal, m *iso8583.Message, resp string) reply {
	tid := term.cfg.TID
	if mid, _ := m.Get(42); mid != term.cfg.MID {
		s.log.Warn("sign-in refused: MID mismatch", "tid", tid)
		return s.plain(m, resp, RCInvalidMerchant)
	}
	s60, _ := m.Get(60)
	f60, err := iso8583.ParseField60(s60)
	if err != nil || f60.NetMgmt != iso8583.NetSignInDoubleTDK {
		s.log.Warn("sign-in refused: 60.3 must be 004", "tid", tid, "field60", s60)
		return s.plain(m, resp, RCInvalidTxn)
	}
	var wk iso8583.WorkingKeys
	for _, k := range []*[]byte{&wk.PIK, &wk.MAK, &wk.TDK} {
		if *k, err = s.newKey(); err != nil {
			s.log.Error("sign-in: no random keys", "err", err)
			return s.plain(m, resp, RCSystemError)
		}
	}
	f62, err := iso8583.SignInKeysField(term.cfg.TMK, wk)
	if err != nil {
		s.log.Error("sign-in: field 62", "tid", tid, "err", err)
		return s.plain(m, resp, RCSystemError)
	}
	sk, err := s.sessionKeys(wk)
	if err != nil {
		s.log.Error("sign-in: MAC key", "tid", tid, "err", err)
		return s.plain(m, resp, RCSystemError)
	}
	stored := &storedKeys{
		PIK: hex.EncodeToString(f62[0:20]), MAK: hex.EncodeToString(f62[20:40]),
		TDK: hex.EncodeToString(f62[40:60]), TMKKCV: hex.EncodeToString(term.tmkKCV),
	}
	now := s.clk.Now()
	var batch, rrn string
	term.mu.Lock()
	defer term.mu.Unlock()
	err = s.store.update(func(t *stx) error {
		r, err := t.openTerminal(tid, now.UTC())
		if err != nil {
			return err
		}
		r.Keys, r.SignedIn = stored, now.UTC()
		r.SignIns++
		batch = r.Batch
		if rrn, err = t.nextRRN(); err != nil {
			return err
		}
		return t.putTerminal(r)
	})
	if err != nil {
		s.log.Error("sign-in not stored", "tid", tid, "err", err)
		return s.plain(m, resp, RCSystemError)
	}
	term.keys.Store(sk)
	s.stats.signIns.Add(1)

	a := short(m, resp, RCApproved)
	local := now.In(s.cfg.Location)
	a.Set(12, local.Format("150405"))
	a.Set(13, local.Format("0102"))
	a.Set(37, rrn)
	a.Set(60, "00"+batch+iso8583.NetSignInDoubleTDK)
	a.SetBytes(62, f62)
	b, err := s.spec.Pack(a)
	if err != nil {
		s.log.Error("sign-in answer does not pack", "err", err)
		return reply{}
	}
	mkcv, _ := iso8583.KCV(wk.MAK)
	s.log.Info("signed in", "tid", tid, "batch", batch, "mak_kcv", fmt.Sprintf("%X", mkcv))
	return reply{body: b}
}

// newKey returns 16 random bytes with odd DES parity.
func (s *Server) newKey() ([]byte, error) {
	k := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, k); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	for i, c := range k {
		c &^= 1
		if ones(c)%2 == 0 {
			c |= 1
		}
		k[i] = c
	}
	return k, nil
}

func ones(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

// authCode returns six random digits.
func (s *Server) authCode() (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("auth code: %w", err)
	}
	return fmt.Sprintf("%06d", binary.BigEndian.Uint32(b[:])%1_000_000), nil
}

// result is what process decided.
type result struct {
	answer []byte // packed without MAC
	txn    Txn
	repeat bool
}

// process decides and records a verified request in one store
// transaction: a repeat gets its stored answer, anything new is decided
// by the rules and stored together with its answer.
func (s *Server) process(req *request) (result, error) {
	now := s.clk.Now()
	noAnswer98 := s.Faults().NoAnswer98
	var res result
	err := s.store.update(func(t *stx) error {
		res = result{}
		key := txnKey(req.tid, req.batch, req.stan, req.class)
		prev, err := t.txn(key)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.Fingerprint != req.fp {
				return reject(RCDuplicate, "TID %s batch %s STAN %s (%s) was already used for a different message", req.tid, req.batch, req.stan, req.class)
			}
			prev.Repeats++
			prev.Updated = now.UTC()
			res = result{answer: prev.Answer, txn: prev.Txn, repeat: true}
			return t.putTxn(key, prev)
		}
		term, err := t.openTerminal(req.tid, now.UTC())
		if err != nil {
			return err
		}
		rec := &storedTxn{Txn: newTxn(req, now), Fingerprint: req.fp}
		var ans *iso8583.Message
		switch req.kind {
		case KindSale, KindQRSale, KindVoid, KindRefund, KindOffline:
			ans, err = s.financial(t, term, req, rec, noAnswer98)
		case KindReversal:
			ans, err = s.reversal(t, req, rec)
		case KindBatchUpload, KindBatchEnd:
			ans, err = s.batchMessage(t, term, req, rec, now)
		case KindSettlement:
			ans, err = s.settlement(t, term, req, rec, now)
		default:
			err = reject(RCInvalidTxn, "kind %s not handled", req.kind)
		}
		if err != nil {
			return err
		}
		if rec.Answer, err = s.spec.Pack(ans); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		res = result{answer: rec.Answer, txn: rec.Txn}
		return t.putTxn(key, rec)
	})
	return res, err
}

// newTxn fills what the request says about itself.
func newTxn(req *request, now time.Time) Txn {
	t := Txn{
		Time: now.UTC(), Updated: now.UTC(),
		TID: req.tid, MID: req.mid, Batch: req.batch, STAN: req.stan,
		MTI: req.m.MTI, Class: req.class, Kind: req.kind,
		Amount: req.amount, Currency: req.currency, Orig: req.orig,
	}
	switch {
	case req.qr != "":
		t.MaskedPAN = card.Mask(req.qr)
		t.Org, _ = walletOf(req.qr)
		t.Domestic = true
	case req.kind == KindBatchUpload || req.kind == KindBatchEnd || req.kind == KindSettlement:
	default:
		t.MaskedPAN = card.Mask(req.pan)
		t.Org = orgOf(req.pan, req.aid)
		t.Domestic = isDomestic(req.pan, req.aid)
	}
	return t
}

// checkBatch: online requests must carry the terminal's open batch.
func checkBatch(term *termRecord, req *request) error {
	if req.batch != term.Batch {
		return reject(RCBatchMismatch, "60.2 batch %s, the host's open batch for %s is %s", req.batch, req.tid, term.Batch)
	}
	return nil
}

// financial decides a sale, QR sale, void, refund or offline advice.
func (s *Server) financial(t *stx, term *termRecord, req *request, rec *storedTxn, noAnswer98 bool) (*iso8583.Message, error) {
	if req.kind != KindOffline {
		if err := checkBatch(term, req); err != nil {
			return nil, err
		}
	}
	v := decide(req.amount, req.pan, req.qr, noAnswer98)
	rec.NoAnswer, rec.Note = v.noAnswer, v.why

	// A reversal for this TID + batch + STAN arrived first: the terminal
	// has given up on this transaction, so it must not take money now.
	late, err := t.txn(txnKey(req.tid, req.batch, req.stan, ClassReversal))
	if err != nil {
		return nil, err
	}
	switch {
	case late != nil:
		v = verdict{code: RCInvalidTxn}
		rec.NoAnswer = false
		rec.Note = "arrived after its reversal; recorded as reversed"
		late.Note = "its original arrived later and was recorded as reversed"
		if err := t.putTxn(txnKey(req.tid, req.batch, req.stan, ClassReversal), late); err != nil {
			return nil, err
		}
	case v.code == RCApproved && (req.kind == KindVoid || req.kind == KindRefund):
		code, why, err := s.applyToOriginal(t, term, req, rec)
		if err != nil {
			return nil, err
		}
		v.code = code
		if why != "" {
			rec.Note = joinNote(rec.Note, why)
		}
	}

	if rec.RRN, err = t.nextRRN(); err != nil {
		return nil, err
	}
	rec.RC = v.code
	switch {
	case late != nil:
		rec.State = StateReversed
	case v.code != RCApproved:
		rec.State = StateDeclined
	case req.kind == KindOffline:
		rec.State = StateOfflineApproved
	default:
		rec.State = StateApproved
	}
	if v.code == RCApproved {
		if a, ok := req.m.Get(38); ok && req.kind == KindOffline && len(a) == 6 {
			rec.AuthCode = a
		} else if rec.AuthCode, err = s.authCode(); err != nil {
			return nil, err
		}
	}
	return s.financialAnswer(req, rec), nil
}

// applyToOriginal checks the original of a void or refund and, when it
// allows it, applies the void or refund to it. It returns the response
// code (00, or the decline) and why it declined.
func (s *Server) applyToOriginal(t *stx, term *termRecord, req *request, rec *storedTxn) (code, why string, err error) {
	want := []Kind{KindSale, KindQRSale}
	if req.kind == KindRefund {
		want = append(want, KindOffline)
	}
	orig, okey, err := t.original(req.tid, req.orig.Batch, req.orig.STAN, want...)
	if err != nil {
		return "", "", err
	}
	if orig == nil || !kindIn(orig.Kind, want) {
		return RCOrigNotFound, "original not found", nil
	}
	if req.origRRN != "" && req.origRRN != orig.RRN {
		return RCOrigNotFound, "original RRN differs", nil
	}
	switch req.kind {
	case KindVoid:
		switch {
		case orig.State == StateVoided:
			return RCInvalidTxn, "original already voided", nil
		case orig.State != StateApproved:
			return RCOrigNotFound, "original not approved (state " + string(orig.State) + ")", nil
		case orig.Batch != term.Batch:
			return RCInvalidTxn, "original is in a closed batch: refund it instead", nil
		case orig.Amount != req.amount:
			return RCInvalidAmount, "void amount differs from the original", nil
		}
		orig.State = StateVoided
		orig.Note = "voided by STAN " + req.stan
	case KindRefund:
		if orig.State != StateApproved && orig.State != StateOfflineApproved {
			return RCOrigNotFound, "original not refundable (state " + string(orig.State) + ")", nil
		}
		if req.amount > orig.Amount-orig.Refunded {
			return RCInvalidAmount, "refund exceeds what is left of the original", nil
		}
		orig.Refunded += req.amount
	}
	orig.Updated = rec.Time
	if rec.MaskedPAN == "" {
		rec.MaskedPAN, rec.Org, rec.Domestic = orig.MaskedPAN, orig.Org, orig.Domestic
	}
	return RCApproved, "", t.putTxn(okey, orig)
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func kindIn(k Kind, ks []Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// financialAnswer builds the answer of a sale, QR sale, void or refund
// (3, 4, 11, 12, 13, 15, 25, 32, 37, 38, 39, 41, 42, 49, 60, 63) or of an
// offline advice (11, 37, 38, 39, 41, 42).
func (s *Server) financialAnswer(req *request, rec *storedTxn) *iso8583.Message {
	a := iso8583.NewMessage(req.resp)
	if req.kind == KindOffline {
		copyFields(a, req.m, 11, 41, 42)
	} else {
		copyFields(a, req.m, 3, 4, 11, 25, 41, 42, 49, 60)
		local := rec.Time.In(s.cfg.Location)
		a.Set(12, local.Format("150405"))
		a.Set(13, local.Format("0102"))
		a.Set(15, local.Format("0102"))
		a.Set(32, s.cfg.AcquirerID)
		if rec.Org != "" {
			a.Set(63, rec.Org)
		}
	}
	a.Set(37, rec.RRN)
	if rec.AuthCode != "" {
		a.Set(38, rec.AuthCode)
	}
	a.Set(39, rec.RC)
	return a
}

// reversal undoes exactly the transaction TID + batch + STAN names, once;
// it always answers 00.
func (s *Server) reversal(t *stx, req *request, rec *storedTxn) (*iso8583.Message, error) {
	rec.RC = RCApproved
	want := []Kind{KindSale, KindQRSale, KindVoid, KindRefund, KindOffline}
	switch req.f60.Type {
	case iso8583.TypeSale:
		want = []Kind{KindSale, KindQRSale}
	case iso8583.TypeVoid:
		want = []Kind{KindVoid}
	case iso8583.TypeRefund:
		want = []Kind{KindRefund}
	case iso8583.TypeOffline:
		want = []Kind{KindOffline}
	}
	orig, okey, err := t.original(req.tid, req.batch, req.stan, want...)
	if err != nil {
		return nil, err
	}
	reason := "reason " + req.reason
	switch {
	case orig == nil:
		rec.State = StateReversalUnknown
		rec.Note = "nothing to undo: transaction never seen (" + reason + ")"
	case orig.State == StateDeclined || orig.State == StateReversed:
		rec.State = StateReversalNoop
		rec.Note = "original " + string(orig.State) + ": nothing to undo (" + reason + ")"
	default:
		if err := s.undo(t, orig, okey, rec.Time); err != nil {
			return nil, err
		}
		rec.State = StateReversalApplied
		rec.Note = "undid " + string(orig.Kind) + " (" + reason + ")"
	}
	if orig != nil {
		if rec.MaskedPAN == "" {
			rec.MaskedPAN, rec.Org, rec.Domestic = orig.MaskedPAN, orig.Org, orig.Domestic
		}
		if !req.hasAmount {
			rec.Amount = orig.Amount
		}
	}
	a := iso8583.NewMessage(req.resp)
	copyFields(a, req.m, 11, 41, 42)
	a.Set(39, RCApproved)
	return a, nil
}

// undo reverses orig and whatever it changed: a voided sale's void is
// reversed with it, a void gives its sale back, a refund gives back the
// refundable amount.
func (s *Server) undo(t *stx, orig *storedTxn, okey []byte, now time.Time) error {
	prev := orig.State
	orig.State, orig.Updated = StateReversed, now
	orig.Note = "reversed"
	if err := t.putTxn(okey, orig); err != nil {
		return err
	}
	switch orig.Kind {
	case KindSale, KindQRSale:
		if prev != StateVoided {
			return nil
		}
		// The void of a reversed sale has nothing left to cancel.
		var keys [][]byte
		var voids []*storedTxn
		err := t.eachTxn(batchKey(orig.TID, orig.Batch), func(k []byte, r *storedTxn) error {
			if r.Kind == KindVoid && r.State == StateApproved && r.Orig != nil &&
				r.Orig.Batch == orig.Batch && r.Orig.STAN == orig.STAN {
				r.State, r.Updated, r.Note = StateReversed, now, "its sale was reversed"
				keys, voids = append(keys, append([]byte(nil), k...)), append(voids, r)
			}
			return nil
		})
		for i := 0; err == nil && i < len(voids); i++ {
			err = t.putTxn(keys[i], voids[i])
		}
		return err
	case KindVoid, KindRefund:
		if orig.Orig == nil {
			return nil
		}
		o, ok, err := t.original(orig.TID, orig.Orig.Batch, orig.Orig.STAN, KindSale, KindQRSale, KindOffline)
		if err != nil || o == nil {
			return err
		}
		if orig.Kind == KindVoid && o.State == StateVoided {
			o.State, o.Note = StateApproved, "void reversed"
		}
		if orig.Kind == KindRefund {
			o.Refunded -= orig.Amount
		}
		o.Updated = now
		return t.putTxn(ok, o)
	}
	return nil
}

// batchMessage records a batch upload or batch end; batch end closes the
// batch.
func (s *Server) batchMessage(t *stx, term *termRecord, req *request, rec *storedTxn, now time.Time) (*iso8583.Message, error) {
	if err := checkBatch(term, req); err != nil {
		return nil, err
	}
	b, err := t.batch(req.tid, req.batch)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = &Batch{TID: req.tid, Batch: req.batch, State: BatchOpen, Opened: now.UTC()}
	}
	rec.RC, rec.State, rec.Records = RCApproved, StateRecorded, req.records
	if req.kind == KindBatchUpload {
		b.UploadMessages++
		b.UploadRecords += req.records
		err = t.putBatch(b)
	} else {
		b.EndTotal, b.EndCode = req.records, req.f60.NetMgmt
		rec.Note = fmt.Sprintf("batch closed; %d records uploaded in %d messages", b.UploadRecords, b.UploadMessages)
		err = closeBatch(t, term, b, now)
	}
	if err != nil {
		return nil, err
	}
	a := iso8583.NewMessage(req.resp)
	copyFields(a, req.m, 11, 41, 42, 48, 60)
	a.Set(39, RCApproved)
	return a, nil
}

// closeBatch closes b and opens the terminal's next batch.
func closeBatch(t *stx, term *termRecord, b *Batch, now time.Time) error {
	b.State, b.Closed = BatchClosed, now.UTC()
	if err := t.putBatch(b); err != nil {
		return err
	}
	term.Batch = nextBatch(b.Batch)
	if err := t.putTerminal(term); err != nil {
		return err
	}
	nb, err := t.batch(term.TID, term.Batch)
	if err != nil {
		return err
	}
	if nb == nil || nb.State == BatchClosed {
		nb = &Batch{TID: term.TID, Batch: term.Batch, State: BatchOpen, Opened: now.UTC()}
	}
	return t.putBatch(nb)
}

// settlement reconciles field 48 against what the host holds for the
// batch, sets the reconciliation digits, and closes the batch when it
// balances (or when the batch was already uploaded).
func (s *Server) settlement(t *stx, term *termRecord, req *request, rec *storedTxn, now time.Time) (*iso8583.Message, error) {
	if err := checkBatch(term, req); err != nil {
		return nil, err
	}
	host, err := t.totals(req.tid, req.batch)
	if err != nil {
		return nil, err
	}
	b, err := t.batch(req.tid, req.batch)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = &Batch{TID: req.tid, Batch: req.batch, State: BatchOpen, Opened: now.UTC()}
	}
	digit := func(a, b Totals) string {
		if a == b {
			return "1"
		}
		return "2"
	}
	st := &Settlement{
		Time: now.UTC(), STAN: req.stan, Terminal: req.terminal, Host: host,
		DomesticDigit: digit(req.terminal.Domestic, host.Domestic),
		ForeignDigit:  digit(req.terminal.Foreign, host.Foreign),
	}
	st.Balanced = st.DomesticDigit == "1" && st.ForeignDigit == "1"
	b.Settlement = st
	rec.RC, rec.Amount = RCApproved, req.terminal.Domestic.DebitAmount+req.terminal.Foreign.DebitAmount
	switch {
	case st.Balanced:
		rec.State, rec.Note = StateBalanced, "balanced; batch closed"
		err = closeBatch(t, term, b, now)
	case b.UploadMessages > 0:
		rec.State, rec.Note = StateNotBalanced, "not balanced after batch upload; batch closed"
		err = closeBatch(t, term, b, now)
	default:
		rec.State, rec.Note = StateNotBalanced, "not balanced; waiting for batch upload and batch end"
		b.State = BatchSettling
		err = t.putBatch(b)
	}
	if err != nil {
		return nil, err
	}
	a := iso8583.NewMessage(req.resp)
	copyFields(a, req.m, 11, 41, 42, 60)
	a.Set(15, rec.Time.In(s.cfg.Location).Format("0102"))
	a.Set(39, RCApproved)
	a.Set(48, withDigits(req.f48, st.DomesticDigit, st.ForeignDigit))
	return a, nil
}

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)
