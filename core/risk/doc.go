// Package risk holds the terminal's risk decisions as pure functions: the
// offline (deferred authorisation) decision for a card sale the acquirer
// cannot be asked about, and the payment limits that hold online too.
//
// Nothing here does I/O or reads a clock: the caller passes the current
// time (from the injected clock, DESIGN.md invariant 10) and the journal's
// real totals (user-issues §1.9: limits are enforced at the point of
// decision, against the journal). The same inputs always give the same
// decision, and a decision changes nothing: it is made again for every
// transaction, so no refusal is ever latched.
//
// # Offline decision
//
// DecideOffline checks, in this order, and stops at the first limit that
// does not hold (the order follows Adyen's store-and-forward checks,
// reference/protocols.md §3, with the time-based limits after the amount
// limits):
//
//  1. offline.enabled         offline mode is on (off by default)
//  2. entry mode              contactless or keyed only; QR is never offline
//  3. offline.max_signin_age  the last successful sign-in is recent enough
//  4. offline.max_count       stored count + this one ≤ max_count
//  5. offline.max_amount      this amount ≤ max_amount
//  6. offline.max_total       stored total + this amount ≤ max_total
//  7. offline.hard_stop       the oldest stored sale is not older than hard_stop
//
// Each limit holds exactly at its value: a sale that brings the stored
// total to exactly max_total is allowed, one minor unit more is refused. A
// refusal names the limit by its config key (Decision.Limit) and says why
// in English and Chinese (Decision.Reason).
//
// The forward window (offline.forward_window) is not a refusal: once the
// oldest stored sale is older than it, new offline sales are still taken
// but Decision.Warn (and the engine's status) says the outbox must be
// forwarded soon. Past the hard stop new offline sales are refused, and
// stored sales that old expire: moving them to the visible expired state
// is the forwarder's job (Expired tells it when), never a silent delete.
//
// # Time
//
// Ages are Age(now, then): now from the injected clock, then a stored UTC
// wall time (a record's Created, the last sign-in). A wall-clock jump
// cannot be told apart from time passing, so:
//
//   - a backward jump that puts then in the future gives a negative
//     difference, which counts as age 0: it never makes anything older
//     than "just now", and the decision warns that the clock looks wrong;
//   - a forward jump can only make ages larger, so it can only refuse (the
//     safe side: no risk is taken on a wrong clock). The refusal is not
//     latched and changes nothing stored: it lifts as soon as the clock is
//     corrected.
//
// Neither kind of jump expires or revives a stored transaction through
// this package: the decision never touches a stored record. Expiring
// stored records is the forwarder's job; it measures ages with the same
// Age and Expired, and docs/offline.md says how it should treat a jump.
//
// # Payment limits
//
// CheckPayment enforces the limits that hold online and offline alike: a
// per-transaction maximum (payment.max_amount), a per-entry-mode maximum
// (payment.max_contactless, payment.max_keyed, payment.max_qr) and a daily
// maximum (payment.daily_max) against the day's real total. A refusal is a
// *LimitError naming the limit's config key; it matches ErrLimit.
package risk
