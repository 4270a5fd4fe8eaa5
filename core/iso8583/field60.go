package iso8583

import "fmt"

// 60.1 message type codes (teddy-lee/AIAUnionPay CUPMessageType.java and
// CUPPackager.setF60_CUP; protocols.md section 6).
const (
	TypeBalance           = "01"
	TypePreAuth           = "10"
	TypePreAuthVoid       = "11"
	TypePreAuthCompletion = "20"
	TypeSale              = "22"
	TypeVoid              = "23"
	TypeRefund            = "25"
	TypeOffline           = "30"
	TypeOfflineAdjust     = "32"
	TypeSaleAdjust        = "34"
	TypeECSale            = "36"
)

// 60.3 network management codes (CUPPackager.setF60_CUP; protocols.md
// section 6).
const (
	NetSignInSingle      = "001" // single-length keys
	NetSignOff           = "002"
	NetSignInDouble      = "003" // double-length keys
	NetSignInDoubleTDK   = "004" // double-length keys with track-data key
	NetSettlement        = "201" // also magstripe batch upload
	NetBatchEnd          = "202"
	NetBatchUploadICC    = "203"
	NetBatchEndSettled   = "207"
	NetEchoTest          = "301"
	NetParamDownload     = "360"
	NetCAPKDownload      = "370"
	NetCAPKDownloadEnd   = "371"
	NetICCParamDownload  = "380"
	NetICCParamDownEnd   = "381"
	NetBlacklistDownload = "390"
	NetBlacklistLast     = "391"
)

// Field60 is UnionPay field 60 ("reserved private") split into its
// sub-fields. Each is a digit string of exactly its width, or empty when
// absent; only trailing sub-fields may be absent.
type Field60 struct {
	Type        string // 60.1 n2 message type code (TypeSale, ...)
	Batch       string // 60.2 n6 batch number
	NetMgmt     string // 60.3 n3 network management code (NetSignInDoubleTDK, ...)
	ReadCap     string // 60.4 n1 terminal read capability
	ICCCond     string // 60.5 n1 IC card condition code
	Partial     string // 60.6 n1 partial approval / balance support flag
	AccountType string // 60.7 n3 account type
}

var field60Widths = [...]int{2, 6, 3, 1, 1, 1, 3}

var field60Names = [...]string{"60.1", "60.2", "60.3", "60.4", "60.5", "60.6", "60.7"}

func (f *Field60) parts() [7]*string {
	return [7]*string{&f.Type, &f.Batch, &f.NetMgmt, &f.ReadCap, &f.ICCCond, &f.Partial, &f.AccountType}
}

// Encode returns the field 60 value (the digits to Set on field 60). It
// checks every sub-field's width and digits, and that no sub-field is
// present after an absent one.
func (f Field60) Encode() (string, error) {
	buf := make([]byte, 0, 17)
	absent := -1
	for i, p := range f.parts() {
		v := *p
		if v == "" {
			if absent < 0 {
				absent = i
			}
			continue
		}
		if absent >= 0 {
			return "", fmt.Errorf("%w: %s present after absent %s", ErrBadField60, field60Names[i], field60Names[absent])
		}
		if len(v) != field60Widths[i] {
			return "", fmt.Errorf("%w: %s is %q, want %d digits", ErrBadField60, field60Names[i], v, field60Widths[i])
		}
		for _, c := range []byte(v) {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("%w: %s is %q, want digits", ErrBadField60, field60Names[i], v)
			}
		}
		buf = append(buf, v...)
	}
	if len(buf) == 0 {
		return "", fmt.Errorf("%w: 60.1 is required", ErrBadField60)
	}
	return string(buf), nil
}

// ParseField60 splits a field 60 value into sub-fields. The value must end
// on a sub-field boundary (2, 8, 11, 12, 13, 14 or 17 digits).
func ParseField60(s string) (Field60, error) {
	var f Field60
	for i, c := range []byte(s) {
		if c < '0' || c > '9' {
			return f, fmt.Errorf("%w: character %d is 0x%02X, want digits", ErrBadField60, i+1, c)
		}
	}
	off := 0
	for i, p := range f.parts() {
		if off == len(s) {
			break
		}
		w := field60Widths[i]
		if len(s)-off < w {
			return Field60{}, fmt.Errorf("%w: %d digits end inside %s", ErrBadField60, len(s), field60Names[i])
		}
		*p = s[off : off+w]
		off += w
	}
	if off != len(s) {
		return Field60{}, fmt.Errorf("%w: %d digits, at most 17", ErrBadField60, len(s))
	}
	if off == 0 {
		return Field60{}, fmt.Errorf("%w: empty", ErrBadField60)
	}
	return f, nil
}
