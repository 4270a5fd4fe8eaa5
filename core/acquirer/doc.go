// Package acquirer is the terminal's link to the acquirer host: ISO 8583
// in the China UnionPay terminal dialect of docs/dialect.md, over TCP or
// mutual TLS 1.3, implementing payment.Acquirer.
//
// It has three layers, each usable on its own:
//
//   - Message builders and parsers (build.go, parse.go, settle.go): pure
//     functions from a journaled txn.Record and its txn.Sensitive data to
//     an *iso8583.Message, and from a response message to a Response whose
//     Outcome classifies the response code (Classify). No I/O, no clock.
//   - Client (client.go): the transport. One TCP (or TLS) connection to
//     the primary host, or to the backup when the primary cannot be
//     connected; several requests in flight on it, each matched to its
//     answer by response MTI class + field 11 + field 41 (the jPOS MUX
//     rule); one reader goroutine per connection; serialised writes; late
//     answers logged and dropped; a broken connection fails the requests
//     in flight on it with payment.ErrNoResponse and is redialled by the
//     next request.
//   - Acquirer (acquirer.go): working keys and sign-in (lazily before the
//     first MACed request, on response code 77 or A0 with one retry of the
//     same message, and on a configured interval), field 64 MACs on every
//     request and verified on every response, the mapping of answers to
//     payment.AuthResponse, reversals (0400, repeat 0401) with the reason
//     the link remembers, offline advices, batch upload and settlement.
//
// # Errors
//
// Every error from Authorize, Reverse and the other exchanges wraps
// payment.ErrUnreachable when the request provably did not leave the
// terminal (every host refused the connection, the request could not be
// built, sign-in failed before it, the context ended before the write),
// and payment.ErrNoResponse when it may have reached the host without a
// valid answer (timeout, connection lost, response MAC failed, a
// malformed or inconsistent answer). The engine reverses the second kind
// and not the first. A host answer, even a decline, is never an error
// from Authorize.
//
// # Sensitive data
//
// Nothing here logs or returns a full PAN, track data, CVV or key. Logs
// name messages by MTI, STAN and TID.
//
// docs/acquirer.md describes the choices made where docs/dialect.md is
// silent, and the benchmark figures.
package acquirer
