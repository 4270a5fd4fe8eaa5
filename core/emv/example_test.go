package emv_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/posagent/posagent/core/emv"
	"github.com/posagent/posagent/core/emv/emvtest"
)

func ExampleRead() {
	term := emv.Terminal{
		Amount:        12345, // 123.45 CNY
		Currency:      156,
		Country:       156,
		Type:          emv.TypeSale,
		Date:          time.Date(2026, 3, 15, 14, 30, 5, 0, time.UTC), // from the injected clock
		Unpredictable: [4]byte{0x1A, 0x2B, 0x3C, 0x4D},                // from crypto/rand
		CVMLimit:      100000,
	}
	r, err := emv.Read(context.Background(), emvtest.Visa(), term, emv.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r) // masked
	// Output:
	// emv.Result{Scheme: Visa, AID: A0000000031010, PAN: 476173******0011, Expiry: 2911, Cryptogram: ARQC, ATC: 42, CVM: none, Field55: 121 bytes, APDUs: 5}
}

func ExampleDump() {
	b, _ := hex.DecodeString("70195A0847617300000000115F24032911309F2701809F3602002A")
	tlvs, err := emv.Parse(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(emv.Dump(tlvs, emv.DumpOptions{}))
	// Output:
	// 70 READ RECORD Response Message Template [25]
	//   5A Application Primary Account Number (PAN) [8]: 476173******0011 (masked)
	//   5F24 Application Expiration Date [3]: 291130
	//   9F27 Cryptogram Information Data (CID) [1]: 80 (ARQC)
	//   9F36 Application Transaction Counter (ATC) [2]: 002A
}
