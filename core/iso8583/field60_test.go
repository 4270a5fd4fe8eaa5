package iso8583

import (
	"errors"
	"testing"
)

func TestField60(t *testing.T) {
	tests := []struct {
		f    Field60
		want string
	}{
		{Field60{Type: TypeSale, Batch: "000001", NetMgmt: "000", ReadCap: "6", ICCCond: "0"}, "2200000100060"},
		{Field60{Type: "00", Batch: "000001", NetMgmt: NetSignInDoubleTDK}, "00000001004"},
		{Field60{Type: "00", Batch: "123456", NetMgmt: NetEchoTest}, "00123456301"},
		{Field60{Type: TypeRefund}, "25"},
		{Field60{Type: "22", Batch: "000001", NetMgmt: "000", ReadCap: "5", ICCCond: "0", Partial: "1", AccountType: "000"}, "22000001000501000"},
	}
	for _, tt := range tests {
		got, err := tt.f.Encode()
		if err != nil || got != tt.want {
			t.Errorf("Encode(%+v) = %q, %v; want %q", tt.f, got, err, tt.want)
			continue
		}
		back, err := ParseField60(got)
		if err != nil || back != tt.f {
			t.Errorf("ParseField60(%q) = %+v, %v", got, back, err)
		}
	}
}

func TestField60Errors(t *testing.T) {
	bad := []Field60{
		{},
		{Type: "2"},
		{Type: "22", Batch: "12345"},
		{Type: "22", Batch: "00000A"},
		{Type: "22", NetMgmt: "000"}, // 60.3 without 60.2
	}
	for _, f := range bad {
		if _, err := f.Encode(); !errors.Is(err, ErrBadField60) {
			t.Errorf("Encode(%+v): %v", f, err)
		}
	}
	for _, s := range []string{"", "2", "220000", "2200000100", "2200000100060000000", "22x"} {
		if _, err := ParseField60(s); !errors.Is(err, ErrBadField60) {
			t.Errorf("ParseField60(%q): %v", s, err)
		}
	}
}
