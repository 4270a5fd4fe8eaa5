// Package iso8583 is the ISO 8583:1987 codec for the acquirer link, in the
// China UnionPay (CUP) POS terminal dialect by default, plus the message
// authentication codes and working-key handling that go with it.
//
// # Layout is data
//
// A [Spec] lists, for each field 2..128, a [FieldSpec]: length type (fixed,
// LLVAR, LLLVAR), maximum length, content class (n, z, a, an, ans, b),
// encoding (BCD, ASCII, binary) and, for odd-length BCD, which side the pad
// nibble goes. The default dialect [UnionPay] is loaded from an embedded
// JSON file (unionpay.json); another acquirer's dialect is another JSON file
// read with [LoadSpec], not a fork of the code.
//
// # Values
//
// A [Message] holds the MTI and one value per field. Values are the logical
// content: the digits of an n field ("000000012345"), the characters of a
// z (track) field with '=' as the separator, the text of a/an/ans fields,
// the raw bytes of b fields. [Spec.Pack] and [Spec.Unpack] are exact
// inverses: Unpack accepts only canonical encodings (zero pad nibbles, no
// empty secondary bitmap, no trailing bytes), so Pack(Unpack(b)) == b for
// every b that Unpack accepts, and Unpack(Pack(m)) == m for every m that
// Pack accepts (with the one documented alias: 'D' in a z field packs like
// '=' and unpacks as '=').
//
// Every codec error is a [*FieldError] naming the field number and the byte
// offset, wrapping one of the sentinel errors (ErrTooLong, ErrTruncated,
// ErrBadDigit, ErrUnknownField, ...), so errors.Is works.
//
// # Wire frame
//
// [WriteFrame] and [ReadFrame] handle the CUP terminal framing:
// 2-byte big-endian length, 5-byte TPDU, 6-byte message header, then the
// ISO 8583 body (MTI, bitmap, fields). [SwapTPDU] swaps the TPDU addresses
// for a reply, as jPOS NACChannel does.
//
// # MAC and keys
//
// Field 64 carries a MAC over the body from the MTI up to (not including)
// the MAC itself ([BodyMACInput], [MACInput]). [UnionPayECB] is the CUP
// "ECB" algorithm, [X919] the ANSI X9.19 retail MAC, [X99] the ANSI X9.9
// (single-DES CBC) MAC. [ParseSignInKeys] decrypts the working keys (PIK,
// MAK, TDK) of a sign-in response under the terminal master key and checks
// each against its check value ([KCV]).
//
// [Spec.Dump] renders a message for people (the `posagent iso8583 decode`
// output) with PAN, track data, PIN block and sensitive ICC tags masked.
//
// docs/iso8583.md lists the dialect field by field with the source of each
// fact, the padding choices, and the MAC test vectors.
package iso8583
