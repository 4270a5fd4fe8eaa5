// Package emv reads a contactless EMV card: BER-TLV coding, data object
// lists, command/response APDUs, and the read flow (SELECT PPSE, SELECT
// AID, GET PROCESSING OPTIONS, READ RECORD, GENERATE AC) that turns a
// tapped card into PAN, expiry, track 2 equivalent data and the ICC data
// for ISO 8583 field 55.
//
// The package does no I/O of its own. A reader driver (the PN532
// InDataExchange driver, a possim emulator, a test fake) implements Card;
// Read drives it under a context, and every outcome is a value or one of
// the documented sentinel errors, never a hang.
//
// Card data is sensitive: Result, Dump and every error message here mask
// the PAN (first 6 / last 4) and never contain track data, so they may be
// logged. See docs/emv.md for the flow, the AID list, the TTQ choice and
// the field 55 tag list.
package emv
