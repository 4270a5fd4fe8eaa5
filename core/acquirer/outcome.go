package acquirer

import "strings"

// Kind is what the terminal does with a response code (docs/dialect.md,
// "Response codes (F39) and what the terminal does").
type Kind uint8

// Kinds of outcome.
const (
	// Approved: response code 00.
	Approved Kind = iota + 1
	// Declined: the host answered and refused; shown to the merchant.
	Declined
	// ReSignIn: 77 (batch number mismatch) or A0 (MAC check failed): the
	// request was not processed; sign in again, then retry it once.
	ReSignIn
	// RetryLater: 91 or 96: the host answered but could not process the
	// request now. A decline for the customer ("host busy, try again"),
	// never a reason to reverse.
	RetryLater
	// NotRegistered: 97 or 03: the host does not know this terminal or
	// merchant.
	NotRegistered
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Approved:
		return "approved"
	case Declined:
		return "declined"
	case ReSignIn:
		return "re-sign-in"
	case RetryLater:
		return "retry-later"
	case NotRegistered:
		return "not-registered"
	}
	return "unknown"
}

// Outcome is a classified response code.
type Outcome struct {
	Kind Kind
	// Code is field 39 as received ("00", "51", "A0", ...).
	Code string
	// Message is the merchant-facing text, English then Chinese:
	// "insufficient funds / 余额不足".
	Message string
}

type codeInfo struct {
	kind   Kind
	en, zh string
}

// codes is the dialect's response code table (docs/dialect.md).
var codes = map[string]codeInfo{
	"00": {Approved, "approved", "交易成功"},
	"01": {Declined, "call issuer", "请联系发卡行"},
	"02": {Declined, "call issuer", "请联系发卡行"},
	"03": {NotRegistered, "invalid merchant", "无效商户"},
	"05": {Declined, "do not honour", "不予承兑"},
	"12": {Declined, "invalid transaction", "无效交易"},
	"13": {Declined, "invalid amount", "无效金额"},
	"14": {Declined, "invalid card number", "无效卡号"},
	"25": {Declined, "original transaction not found", "找不到原始交易"},
	"30": {Declined, "format error", "报文格式错误"},
	"51": {Declined, "insufficient funds", "余额不足"},
	"54": {Declined, "expired card", "过期卡"},
	"55": {Declined, "incorrect PIN", "密码错误"},
	"61": {Declined, "exceeds amount limit", "超出金额限制"},
	"77": {ReSignIn, "batch number mismatch, sign in again", "批次号不符，请重新签到"},
	"91": {RetryLater, "host busy, try again", "主机繁忙，请稍后重试"},
	"94": {Declined, "duplicate transmission", "重复交易"},
	"96": {RetryLater, "host busy, try again", "主机繁忙，请稍后重试"},
	"97": {NotRegistered, "terminal unknown to host", "终端未登记"},
	"A0": {ReSignIn, "MAC check failed, sign in again", "校验错，请重新签到"},
}

// Classify maps a response code (field 39) to the terminal's outcome.
// Unknown codes are declines that show the code.
func Classify(code string) Outcome {
	if ci, ok := codes[code]; ok {
		return Outcome{Kind: ci.kind, Code: code, Message: ci.en + " / " + ci.zh}
	}
	safe := sanitizeCode(code)
	return Outcome{Kind: Declined, Code: code, Message: "declined (code " + safe + ") / 交易失败 (" + safe + ")"}
}

// sanitizeCode keeps letters and digits of a code for display; anything
// else (a control byte from a broken host) becomes '?'.
func sanitizeCode(code string) string {
	if code == "" {
		return "none"
	}
	var sb strings.Builder
	for i := 0; i < len(code) && i < 8; i++ {
		c := code[i]
		if (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
			sb.WriteByte(c)
		} else {
			sb.WriteByte('?')
		}
	}
	return sb.String()
}
