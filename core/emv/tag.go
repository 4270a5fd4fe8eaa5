package emv

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Tag is a BER-TLV tag, its bytes read as a big-endian number: tag 5A is
// Tag(0x5A), tag 9F26 is Tag(0x9F26). Tags are 1 to 4 bytes long.
type Tag uint32

// Tags this package uses by name. The dictionary (LookupTag) has more.
const (
	TagAID            Tag = 0x4F   // Application Identifier (AID) - card
	TagLabel          Tag = 0x50   // Application Label
	TagTrack1         Tag = 0x56   // Track 1 Data
	TagTrack2         Tag = 0x57   // Track 2 Equivalent Data
	TagPAN            Tag = 0x5A   // Application PAN
	TagCardholderName Tag = 0x5F20 // Cardholder Name
	TagExpiry         Tag = 0x5F24 // Application Expiration Date
	TagEffective      Tag = 0x5F25 // Application Effective Date
	TagIssuerCountry  Tag = 0x5F28 // Issuer Country Code
	TagCurrency       Tag = 0x5F2A // Transaction Currency Code
	TagPANSeq         Tag = 0x5F34 // PAN Sequence Number
	TagAppTemplate    Tag = 0x61   // Application Template
	TagFCI            Tag = 0x6F   // File Control Information Template
	TagRecord         Tag = 0x70   // READ RECORD Response Template
	TagRMTF2          Tag = 0x77   // Response Message Template Format 2
	TagRMTF1          Tag = 0x80   // Response Message Template Format 1
	TagAIP            Tag = 0x82   // Application Interchange Profile
	TagCommand        Tag = 0x83   // Command Template
	TagDFName         Tag = 0x84   // Dedicated File (DF) Name
	TagPriority       Tag = 0x87   // Application Priority Indicator
	TagCDOL1          Tag = 0x8C   // CDOL1
	TagCDOL2          Tag = 0x8D   // CDOL2
	TagAFL            Tag = 0x94   // Application File Locator
	TagTVR            Tag = 0x95   // Terminal Verification Results
	TagDate           Tag = 0x9A   // Transaction Date
	TagTxnType        Tag = 0x9C   // Transaction Type
	TagAmount         Tag = 0x9F02 // Amount, Authorised
	TagAmountOther    Tag = 0x9F03 // Amount, Other
	TagTerminalAID    Tag = 0x9F06 // AID - terminal
	TagTermAppVersion Tag = 0x9F09 // Application Version Number (terminal)
	TagIAD            Tag = 0x9F10 // Issuer Application Data
	TagPreferredName  Tag = 0x9F12 // Application Preferred Name
	TagCountry        Tag = 0x9F1A // Terminal Country Code
	TagIFDSerial      Tag = 0x9F1E // IFD Serial Number
	TagTrack1Disc     Tag = 0x9F1F // Track 1 Discretionary Data
	TagTime           Tag = 0x9F21 // Transaction Time
	TagCryptogram     Tag = 0x9F26 // Application Cryptogram
	TagCID            Tag = 0x9F27 // Cryptogram Information Data
	TagCapabilities   Tag = 0x9F33 // Terminal Capabilities
	TagCVMResults     Tag = 0x9F34 // CVM Results
	TagTerminalType   Tag = 0x9F35 // Terminal Type
	TagATC            Tag = 0x9F36 // Application Transaction Counter
	TagUnpredictable  Tag = 0x9F37 // Unpredictable Number
	TagPDOL           Tag = 0x9F38 // PDOL
	TagAddCaps        Tag = 0x9F40 // Additional Terminal Capabilities
	TagTSC            Tag = 0x9F41 // Transaction Sequence Counter
	TagCardProductID  Tag = 0x9F63 // Card Product Identification (UnionPay)
	TagTTQ            Tag = 0x9F66 // Terminal Transaction Qualifiers
	TagTrack2MC       Tag = 0x9F6B // Track 2 Data (Mastercard)
	TagCTQ            Tag = 0x9F6C // Card Transaction Qualifiers
	TagFormFactor     Tag = 0x9F6E // Form Factor Indicator / Third Party Data
	TagFCIProprietary Tag = 0xA5   // FCI Proprietary Template
	TagFCIIssuerDisc  Tag = 0xBF0C // FCI Issuer Discretionary Data
)

// Bytes returns the tag's encoding, or nil when t is not a valid tag
// (see Valid).
func (t Tag) Bytes() []byte {
	var b []byte
	for shift := 24; shift >= 0; shift -= 8 {
		c := byte(t >> uint(shift))
		if len(b) == 0 && c == 0 {
			continue
		}
		b = append(b, c)
	}
	if !validTagBytes(b) {
		return nil
	}
	return b
}

// Valid reports whether t is a well-formed tag: a one-byte tag whose low
// five bits are not 11111, or a multi-byte tag whose first byte has low
// bits 11111, whose middle bytes have bit 8 set and whose last byte has
// it clear. First bytes 00 and FF are padding in EMV and never tags.
func (t Tag) Valid() bool { return t.Bytes() != nil }

func validTagBytes(b []byte) bool {
	if len(b) == 0 || b[0] == 0x00 || b[0] == 0xFF {
		return false
	}
	if b[0]&0x1F != 0x1F {
		return len(b) == 1
	}
	if len(b) < 2 {
		return false
	}
	for i := 1; i < len(b)-1; i++ {
		if b[i]&0x80 == 0 {
			return false
		}
	}
	return b[len(b)-1]&0x80 == 0
}

// Constructed reports whether the tag marks a constructed object
// (bit 6 of the first byte): its value is a list of TLV objects.
func (t Tag) Constructed() bool {
	b := t.Bytes()
	if b == nil {
		// Best effort for invalid tags: the highest non-zero byte.
		for shift := 24; shift >= 0; shift -= 8 {
			if c := byte(t >> uint(shift)); c != 0 {
				return c&0x20 != 0
			}
		}
		return false
	}
	return b[0]&0x20 != 0
}

// String returns the tag in upper-case hex, e.g. "9F26".
func (t Tag) String() string {
	if b := t.Bytes(); b != nil {
		return strings.ToUpper(hex.EncodeToString(b))
	}
	return fmt.Sprintf("%X", uint32(t))
}

// Name returns the tag's name from the dictionary, or "Unknown".
func (t Tag) Name() string {
	if info, ok := LookupTag(t); ok {
		return info.Name
	}
	return "Unknown"
}

// ParseTag reads a tag written in hex ("9F26", "5a").
func ParseTag(s string) (Tag, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not hex: %v", ErrBadTag, s, err)
	}
	if len(b) > 4 || !validTagBytes(b) {
		return 0, fmt.Errorf("%w: %q is not a valid 1-4 byte tag", ErrBadTag, s)
	}
	var t Tag
	for _, c := range b {
		t = t<<8 | Tag(c)
	}
	return t, nil
}

// Format is the EMV data element format (EMV Book 3 section 4.3).
type Format string

// Data element formats.
const (
	FormatB   Format = "b"   // binary
	FormatN   Format = "n"   // numeric, BCD, left-padded with zeros
	FormatCN  Format = "cn"  // compressed numeric, BCD, right-padded with F
	FormatA   Format = "a"   // alphabetic
	FormatAN  Format = "an"  // alphanumeric
	FormatANS Format = "ans" // alphanumeric and special characters
	// FormatTemplate is a constructed object (a list of TLVs).
	FormatTemplate Format = "template"
)

// TagInfo describes a tag: its name, its format and whether its value is
// cardholder data that must be masked when shown.
type TagInfo struct {
	Name      string `json:"name"`
	Format    Format `json:"format"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// LookupTag returns the dictionary entry for t.
func LookupTag(t Tag) (TagInfo, bool) {
	info, ok := dictionary[t]
	return info, ok
}

// dictionary of the tags the flow, field 55 and the decoder use. Names
// and formats from EMV 4.3 Book 3 Annex A, EMV Contactless Books C-2/C-3,
// and JR/T 0025 (PBOC) for the UnionPay-specific tags.
var dictionary = map[Tag]TagInfo{
	0x4F:   {"Application Identifier (AID) - card", FormatB, false},
	0x50:   {"Application Label", FormatANS, false},
	0x56:   {"Track 1 Data", FormatANS, true},
	0x57:   {"Track 2 Equivalent Data", FormatB, true},
	0x5A:   {"Application Primary Account Number (PAN)", FormatCN, true},
	0x5F20: {"Cardholder Name", FormatANS, true},
	0x5F24: {"Application Expiration Date", FormatN, false},
	0x5F25: {"Application Effective Date", FormatN, false},
	0x5F28: {"Issuer Country Code", FormatN, false},
	0x5F2A: {"Transaction Currency Code", FormatN, false},
	0x5F2D: {"Language Preference", FormatAN, false},
	0x5F30: {"Service Code", FormatN, false},
	0x5F34: {"Application PAN Sequence Number", FormatN, false},
	0x61:   {"Application Template", FormatTemplate, false},
	0x6F:   {"File Control Information (FCI) Template", FormatTemplate, false},
	0x70:   {"READ RECORD Response Message Template", FormatTemplate, false},
	0x77:   {"Response Message Template Format 2", FormatTemplate, false},
	0x80:   {"Response Message Template Format 1", FormatB, false},
	0x82:   {"Application Interchange Profile (AIP)", FormatB, false},
	0x83:   {"Command Template", FormatB, false},
	0x84:   {"Dedicated File (DF) Name", FormatB, false},
	0x87:   {"Application Priority Indicator", FormatB, false},
	0x88:   {"Short File Identifier (SFI)", FormatB, false},
	0x8A:   {"Authorisation Response Code", FormatAN, false},
	0x8C:   {"Card Risk Management DOL 1 (CDOL1)", FormatB, false},
	0x8D:   {"Card Risk Management DOL 2 (CDOL2)", FormatB, false},
	0x8E:   {"Cardholder Verification Method (CVM) List", FormatB, false},
	0x8F:   {"Certification Authority Public Key Index", FormatB, false},
	0x90:   {"Issuer Public Key Certificate", FormatB, false},
	0x92:   {"Issuer Public Key Remainder", FormatB, false},
	0x94:   {"Application File Locator (AFL)", FormatB, false},
	0x95:   {"Terminal Verification Results (TVR)", FormatB, false},
	0x9A:   {"Transaction Date", FormatN, false},
	0x9C:   {"Transaction Type", FormatN, false},
	0x9F02: {"Amount, Authorised (Numeric)", FormatN, false},
	0x9F03: {"Amount, Other (Numeric)", FormatN, false},
	0x9F06: {"Application Identifier (AID) - terminal", FormatB, false},
	0x9F07: {"Application Usage Control", FormatB, false},
	0x9F08: {"Application Version Number (card)", FormatB, false},
	0x9F09: {"Application Version Number (terminal)", FormatB, false},
	0x9F0D: {"Issuer Action Code - Default", FormatB, false},
	0x9F0E: {"Issuer Action Code - Denial", FormatB, false},
	0x9F0F: {"Issuer Action Code - Online", FormatB, false},
	0x9F10: {"Issuer Application Data (IAD)", FormatB, false},
	0x9F11: {"Issuer Code Table Index", FormatN, false},
	0x9F12: {"Application Preferred Name", FormatANS, false},
	0x9F1A: {"Terminal Country Code", FormatN, false},
	0x9F1C: {"Terminal Identification", FormatAN, false},
	0x9F1E: {"Interface Device (IFD) Serial Number", FormatAN, false},
	0x9F1F: {"Track 1 Discretionary Data", FormatANS, true},
	0x9F20: {"Track 2 Discretionary Data", FormatCN, true},
	0x9F21: {"Transaction Time", FormatN, false},
	0x9F26: {"Application Cryptogram", FormatB, false},
	0x9F27: {"Cryptogram Information Data (CID)", FormatB, false},
	0x9F2A: {"Kernel Identifier", FormatB, false},
	0x9F32: {"Issuer Public Key Exponent", FormatB, false},
	0x9F33: {"Terminal Capabilities", FormatB, false},
	0x9F34: {"Cardholder Verification Method (CVM) Results", FormatB, false},
	0x9F35: {"Terminal Type", FormatN, false},
	0x9F36: {"Application Transaction Counter (ATC)", FormatB, false},
	0x9F37: {"Unpredictable Number", FormatB, false},
	0x9F38: {"Processing Options Data Object List (PDOL)", FormatB, false},
	0x9F40: {"Additional Terminal Capabilities", FormatB, false},
	0x9F41: {"Transaction Sequence Counter", FormatN, false},
	0x9F42: {"Application Currency Code", FormatN, false},
	0x9F45: {"Data Authentication Code", FormatB, false},
	0x9F46: {"ICC Public Key Certificate", FormatB, false},
	0x9F47: {"ICC Public Key Exponent", FormatB, false},
	0x9F48: {"ICC Public Key Remainder", FormatB, false},
	0x9F49: {"Dynamic Data Authentication DOL (DDOL)", FormatB, false},
	0x9F4A: {"Static Data Authentication Tag List", FormatB, false},
	0x9F4B: {"Signed Dynamic Application Data", FormatB, false},
	0x9F4C: {"ICC Dynamic Number", FormatB, false},
	0x9F4E: {"Merchant Name and Location", FormatANS, false},
	0x9F5D: {"Available Offline Spending Amount", FormatN, false},
	0x9F63: {"Card Product Identification Information", FormatB, false},
	0x9F66: {"Terminal Transaction Qualifiers (TTQ)", FormatB, false},
	0x9F69: {"Card Authentication Related Data", FormatB, false},
	0x9F6B: {"Track 2 Data", FormatB, true},
	0x9F6C: {"Card Transaction Qualifiers (CTQ)", FormatB, false},
	0x9F6E: {"Form Factor Indicator / Third Party Data", FormatB, false},
	0x9F7A: {"Electronic Cash Terminal Support Indicator", FormatB, false},
	0x9F7C: {"Customer Exclusive Data", FormatB, false},
	0xA5:   {"FCI Proprietary Template", FormatTemplate, false},
	0xBF0C: {"FCI Issuer Discretionary Data", FormatTemplate, false},
}
