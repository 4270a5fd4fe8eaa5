package acquirer

import "errors"

// Errors of the acquirer link. They are wrapped with detail (the field,
// the key, the host, the response code) and together with
// payment.ErrUnreachable or payment.ErrNoResponse where a request was
// involved, so errors.Is works on both.
var (
	// ErrBadRequest: a request cannot be built from the record and card
	// data (a missing or malformed value). The error names the field.
	// Such a request never leaves, so it also wraps
	// payment.ErrUnreachable when returned by Authorize; callers that
	// might store such a sale offline must check for ErrBadRequest first.
	ErrBadRequest = errors.New("acquirer: cannot build request")
	// ErrBadResponse: an answer is malformed or does not fit its request
	// (no response code, a different amount, a wrong MTI, bad field 48).
	ErrBadResponse = errors.New("acquirer: malformed response")
	// ErrResponseMAC: the MAC of an answer did not verify. The answer is
	// treated as no answer (payment.ErrNoResponse is wrapped too) and the
	// reversal that follows carries reason A0.
	ErrResponseMAC = errors.New("acquirer: response MAC check failed")
	// ErrSignIn: the sign-in (0800/0810) failed. Key check failures also
	// wrap *iso8583.KeyError, which names the key.
	ErrSignIn = errors.New("acquirer: sign-in failed")
	// ErrNotRegistered: the host does not know this terminal or merchant
	// (response code 97 or 03 to a sign-in).
	ErrNotRegistered = errors.New("acquirer: terminal unknown to host")
	// ErrNoTMK: the key store holds no terminal master key; a technician
	// must load one (posagent keys load) before the terminal can sign in.
	ErrNoTMK = errors.New("acquirer: no terminal master key loaded")
	// ErrBadTMK: a terminal master key has the wrong length.
	ErrBadTMK = errors.New("acquirer: bad terminal master key")
	// ErrReversalRefused: the host answered a reversal with a code other
	// than 00 (or 94): the reversal is not acknowledged and is retried.
	ErrReversalRefused = errors.New("acquirer: reversal not acknowledged")
	// ErrRefused: the host answered an echo test, batch upload, batch end
	// or settlement with a code other than 00.
	ErrRefused = errors.New("acquirer: request refused by host")
	// ErrDuplicateInFlight: a request with the same match key (response
	// MTI class, STAN, TID) is already waiting for its answer on the
	// connection. The second one is not sent.
	ErrDuplicateInFlight = errors.New("acquirer: request with the same MTI class, STAN and TID already in flight")
	// ErrClosed: the client or acquirer has been closed.
	ErrClosed = errors.New("acquirer: link closed")
	// ErrTrackData: track data that EncryptTrack cannot encrypt.
	ErrTrackData = errors.New("acquirer: bad track data")
)
