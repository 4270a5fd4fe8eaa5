package iso8583

import (
	"bytes"
	_ "embed" // for the default dialect
	"fmt"
)

//go:embed unionpay.json
var unionPayJSON []byte

// UnionPayJSON returns a copy of the embedded JSON source of [UnionPay],
// a starting point for another acquirer's dialect.
func UnionPayJSON() []byte { return bytes.Clone(unionPayJSON) }

// UnionPay is the default dialect: the China UnionPay POS terminal
// conventions, loaded from the embedded unionpay.json. Treat it as read-only;
// Clone it to make a variant.
var UnionPay = mustLoad(unionPayJSON)

func mustLoad(b []byte) *Spec {
	s, err := LoadSpec(bytes.NewReader(b))
	if err != nil {
		// The embedded file is part of the build and covered by tests.
		panic(fmt.Sprintf("iso8583: embedded spec: %v", err))
	}
	return s
}
