package escpos

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestStatusRequest(t *testing.T) {
	for n := 1; n <= 4; n++ {
		got, err := StatusRequest(n)
		if err != nil || !bytes.Equal(got, []byte{0x10, 0x04, byte(n)}) {
			t.Errorf("StatusRequest(%d) = % X, %v; want 10 04 %02X", n, got, err, n)
		}
	}
	for _, n := range []int{0, 5, -1, 18} {
		if _, err := StatusRequest(n); !errors.Is(err, ErrParam) {
			t.Errorf("StatusRequest(%d) err = %v, want ErrParam", n, err)
		}
	}
}

// Bit tables from Epson's DLE EOT definition (TM-T88III specification,
// "Transmit real-time status"): every reply has bit 0 off, bit 1 on,
// bit 4 on, bit 7 off, so the idle value of each byte is 0x12.
func TestParseStatusTable(t *testing.T) {
	tests := []struct {
		name    string
		replies string
		want    Status
		err     error // of Status.Err
	}{
		{"all clear", "12 12 12 12", Status{Online: true}, nil},
		// n=1 bit 2: drawer kick-out connector pin 3 high.
		{"drawer pin 3 high", "16 12 12 12", Status{Online: true, DrawerPin3High: true}, nil},
		// n=1 bit 3: offline; n=2 bit 2: cover open.
		{"cover open", "1A 16 12 12", Status{CoverOpen: true}, ErrCoverOpen},
		// n=1 bit 3 + bit 5 waiting for online recovery; n=2 bit 3 feeding by button; n=1 bit 6 button.
		{"feed button", "7A 1A 12 12", Status{WaitingRecovery: true, FeedButton: true, FeedingByButton: true}, ErrOffline},
		// Paper out (the reply set hardless-http-dialects documents:
		// 1A 32 … 7E): n=2 bit 5 paper-end stop, n=4 bits 2-3 near end and
		// bits 5-6 paper end.
		{"paper out", "1A 32 12 7E", Status{PaperEndStop: true, PaperNearEnd: true, PaperOut: true}, ErrPaperOut},
		// python-escpos paper_status: 0x72 (bits 5,6 + fixed) = no paper.
		{"paper end sensor only", "12 12 12 72", Status{Online: true, PaperOut: true}, ErrPaperOut},
		// python-escpos: 0x1E (bits 2,3 + fixed) = near end; printing goes on.
		{"near end", "12 12 12 1E", Status{Online: true, PaperNearEnd: true}, nil},
		// n=2 bit 6 error occurred; n=3 bit 3 autocutter error.
		{"cutter error", "1A 52 1A 12", Status{ErrorOccurred: true, CutterError: true}, ErrFault},
		// n=3 bit 5 unrecoverable.
		{"unrecoverable", "1A 52 32 12", Status{ErrorOccurred: true, Unrecoverable: true}, ErrFault},
		// n=3 bit 6 auto-recoverable (head overheat).
		{"auto-recoverable", "1A 52 52 12", Status{ErrorOccurred: true, AutoRecoverable: true}, ErrFault},
		// n=3 bit 2 is model-dependent: reported, not acted on.
		{"error bit 2", "12 12 16 12", Status{Online: true, RecoverableError: true}, nil},
		// Paper out wins over cover open and offline.
		{"paper out and cover open", "1A 36 12 72", Status{CoverOpen: true, PaperEndStop: true, PaperOut: true}, ErrPaperOut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := unhex(t, tc.replies)
			got, err := ParseStatus(raw)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Raw = [4]byte(raw)
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			err = got.Err()
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("Err() = %v, want %v", err, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), strings.ToLower(tc.replies)) {
				t.Errorf("Err() %q does not show the raw bytes", err)
			}
		})
	}
}

func TestParseStatusRejects(t *testing.T) {
	tests := []struct {
		name, replies, want string
	}{
		{"short", "12 12 12", "got 3"},
		{"long", "12 12 12 12 12", "got 5"},
		{"empty", "", "got 0"},
		{"bit 0 set (XON 11)", "12 11 12 12", "DLE EOT 2 (offset 1)"},
		{"bit 1 clear", "10 12 12 12", "DLE EOT 1 (offset 0)"},
		{"bit 4 clear", "12 12 02 12", "DLE EOT 3 (offset 2)"},
		{"bit 7 set", "12 12 12 92", "DLE EOT 4 (offset 3)"},
		{"zero", "00 12 12 12", "DLE EOT 1"},
		{"ff", "12 12 12 FF", "DLE EOT 4"},
	}
	for _, tc := range tests {
		_, err := ParseStatus(unhex(t, tc.replies))
		if !errors.Is(err, ErrNotStatus) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrNotStatus naming %q", tc.name, err, tc.want)
		}
	}
	// XOFF is noise too.
	if err := CheckStatusByte(0x13); !errors.Is(err, ErrNotStatus) {
		t.Errorf("XOFF accepted: %v", err)
	}
}

func TestStatusString(t *testing.T) {
	st, _ := ParseStatus(unhex(t, "1A 32 12 7E"))
	if got := st.String(); got != "offline paper-out paper-near-end [1a 32 12 7e]" {
		t.Errorf("String() = %q", got)
	}
	st, _ = ParseStatus(unhex(t, "12 12 12 12"))
	if got := st.String(); got != "ok [12 12 12 12]" {
		t.Errorf("String() = %q", got)
	}
}

// FuzzParseStatus: any input either fails with ErrNotStatus or yields a
// Status consistent with the bit definitions.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"12121212", "1a16121212", "1a32127e", "12121272", "1a521a12", "11121212", "", "12", "ffffffff", "00000000"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatus(data)
		valid := len(data) == 4
		for _, b := range data {
			if b&0x93 != 0x12 {
				valid = false
			}
		}
		if !valid {
			if !errors.Is(err, ErrNotStatus) {
				t.Fatalf("ParseStatus(% X) err = %v, want ErrNotStatus", data, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseStatus(% X): %v", data, err)
		}
		if !bytes.Equal(st.Raw[:], data) {
			t.Fatalf("Raw % X, want % X", st.Raw, data)
		}
		if st.Online != (data[0]&0x08 == 0) || st.CoverOpen != (data[1]&0x04 != 0) ||
			st.CutterError != (data[2]&0x08 != 0) || st.Unrecoverable != (data[2]&0x20 != 0) ||
			st.PaperNearEnd != (data[3]&0x0C != 0) ||
			st.PaperOut != (data[3]&0x60 != 0 || data[1]&0x20 != 0) {
			t.Fatalf("fields disagree with bits: % X → %+v", data, st)
		}
		if e := st.Err(); (e == nil) != (st.Online && !st.PaperOut && !st.CoverOpen &&
			!st.CutterError && !st.Unrecoverable && !st.AutoRecoverable) {
			t.Fatalf("Err() = %v for %+v", e, st)
		}
		_ = st.String()
	})
}
