package iso8583

import "testing"

func BenchmarkPack0200(b *testing.B) {
	m := sale0200()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnionPay.AppendPack(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPackNew0200(b *testing.B) {
	m := sale0200()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnionPay.Pack(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpack0200(b *testing.B) {
	in := unhex(b, sale0200Hex)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := UnionPay.Unpack(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnionPayECB(b *testing.B) {
	mac, _ := NewMAC(MACUnionPayECB, []byte("12345678"))
	in := unhex(b, sale0200Hex)[:112]
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := mac(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkX919(b *testing.B) {
	mac, _ := NewMAC(MACX919, []byte("1234567812345678"))
	in := unhex(b, sale0200Hex)[:112]
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := mac(in); err != nil {
			b.Fatal(err)
		}
	}
}
