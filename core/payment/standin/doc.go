// Package standin holds in-process stand-ins for the devices and the host
// that arrive in later issues, so that the payment engine, the local API
// and demos run end to end today. They are test doubles with deterministic
// rules, not simulations of the protocols: the PN532 driver replaces Cards,
// the ISO 8583 link to the acquirer replaces Acquirer, the ESC/POS driver
// replaces Printer and the GPIO lights and buzzer replace Indicator. None
// of them is ever wired into a production profile.
//
// # Cards
//
// Cards waits for a card handed to it with Tap, or, when AutoTap is set,
// presents its default card (the UnionPay test card) after that delay on
// the injected clock. TestCards holds one Luhn-valid test card per scheme
// (UnionPay 621234..., Visa 4761..., Mastercard 5413...) with expiry, a
// track 2 equivalent, PAN sequence number 01 and a small field 55 TLV blob;
// on each read the blob is rebuilt with the request's amount, currency,
// date and unpredictable number, and a stand-in cryptogram (a hash, not an
// EMV cryptogram).
//
// # Acquirer rules
//
// Acquirer decides on the last two digits of the amount in minor units:
//
//	ends in 51   declined, response code 51 "insufficient funds"
//	ends in 05   declined, response code 05 "do not honour"
//	ends in 14   declined, response code 14 "invalid card number"
//	ends in 96   declined, response code 96 "system malfunction"
//	ends in 98   no answer: waits until the context is done, then returns
//	             an error wrapping payment.ErrNoResponse (a reversal follows)
//	ends in 99   not sent: returns an error wrapping payment.ErrUnreachable
//	otherwise    approved, response code 00, auth code and RRN derived
//	             from the STAN (see Acquirer.Authorize)
//
// A clear PAN that fails the Luhn check is declined with 14 as well. Every
// answer carries the host time (fields 12/13) from the injected clock.
// Reverse always acknowledges (response code 00). While SetDown(true) is
// on, the host is unreachable: Authorize and Reverse both return an error
// wrapping payment.ErrUnreachable. A request whose context is already done
// is not sent (ErrUnreachable), except for the "98" rule, which waits for
// the context by definition.
//
// # Printer and Indicator
//
// Printer writes receipt.Text(32) and a tear line to an io.Writer;
// SetPaperOut(true) makes it return payment.ErrPaperOut. Indicator logs
// each signal and remembers the last one.
package standin
