// Package host is the reference acquirer host behind cmd/acqhost: it
// speaks the terminal's ISO 8583 dialect (docs/dialect.md) on top of
// core/iso8583, for development, certification-style tests and demos.
//
// # What it does
//
// A Server listens on TCP (optionally TLS 1.3 with client certificates),
// knows its terminals from a Config (TID, MID and terminal master key),
// performs the sign-in key exchange (fresh PIK, MAK and TDK under the TMK),
// verifies the MAC of every message but sign-in and echo, and answers
// every message of the dialect: echo, card and QR sale, void, refund,
// reversal (0400/0401), offline advice (0220/0221), batch upload and batch
// end (0320) and settlement (0500). Approvals and declines follow the
// deterministic test rules of the dialect page (the last two digits of the
// amount, the Luhn check, the last two digits of a QR payment code).
//
// # Exactly once
//
// Each request is identified by TID + batch (60.2) + STAN (11) + class
// (financial 0200, advice 0220/0221, reversal 0400/0401, batch 0320,
// settlement 0500). The decision, the answer and the request's identity
// are stored in one bbolt transaction; a repeat of the same identity (or
// its repeat MTI) gets the stored answer again and is never counted
// twice. A reversal undoes exactly the transaction it names, once.
//
// # Store
//
// Everything received is kept in a bbolt file (Store): terminals with
// their current batch and their working keys (encrypted under the TMK),
// transactions with their state and answer, and batches with their
// settlement results. Settlement (0500) is reconciled against the stored
// transactions of that TID and batch.
//
// # Faults
//
// Faults (added latency, dropping every Nth answer, closing a connection
// after N messages, the "amount ends in 98 → no answer" rule) can be set
// at start and changed at run time through the admin HTTP handler.
//
// docs/acqhost.md is the integrator's guide: configuration, the test-card
// rules, dedupe and reconciliation semantics, faults and the admin API.
package host
