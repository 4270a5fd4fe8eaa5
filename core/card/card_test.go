package card

import (
	"errors"
	"testing"
)

func TestLuhn(t *testing.T) {
	good := []string{"4111111111111111", "5555555555554444", "6212345678901232", "79927398713", "378282246310005"}
	bad := []string{"4111111111111112", "6212345678901231", "", "1", "41111111111a1111"}
	for _, s := range good {
		if !Luhn(s) {
			t.Errorf("Luhn(%q) = false", s)
		}
	}
	for _, s := range bad {
		if Luhn(s) {
			t.Errorf("Luhn(%q) = true", s)
		}
	}
}

func TestValidPAN(t *testing.T) {
	if err := ValidPAN("6212345678901232"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"4111", "41111111111111111111", "4111111111111112", "41111111-1111111"} {
		if err := ValidPAN(p); !errors.Is(err, ErrPAN) {
			t.Errorf("ValidPAN(%q) = %v", p, err)
		}
	}
}

func TestMask(t *testing.T) {
	cases := map[string]string{
		"6212345678901232":    "621234******1232",
		"4111111111111111111": "411111*********1111",
		"4111111111111":       "411111***1111",
		"411111111111":        "********1111",
		"1234":                "****",
		"":                    "",
	}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSchemeByPAN(t *testing.T) {
	cases := map[string]string{"6212345678901232": "UnionPay", "4111111111111111": "Visa",
		"5555555555554444": "Mastercard", "2223000048400011": "Mastercard", "9999": "Unknown"}
	for in, want := range cases {
		if got := SchemeByPAN(in); got != want {
			t.Errorf("SchemeByPAN(%q) = %q, want %q", in, got, want)
		}
	}
}
