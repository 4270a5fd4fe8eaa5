// Package receipt lays out a transaction's receipt as device-independent
// lines, for the merchant and the customer copy. Printers turn the lines
// into their own bytes (ESC/POS in drivers/escpos); the text form is what
// tests and the simulated printer show.
package receipt

import (
	"fmt"
	"strings"
	"time"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Copy says whose receipt it is.
type Copy string

// Receipt copies.
const (
	MerchantCopy Copy = "merchant"
	CustomerCopy Copy = "customer"
)

// Align is a line's alignment.
type Align uint8

// Alignments.
const (
	Left Align = iota
	Center
	Right
)

// Line is one printed line.
type Line struct {
	Text   string `json:"text"`
	Align  Align  `json:"align,omitempty"`
	Bold   bool   `json:"bold,omitempty"`
	Double bool   `json:"double,omitempty"` // double width and height
}

// Receipt is a laid-out receipt.
type Receipt struct {
	TxnID txn.ID `json:"txn_id"`
	Copy  Copy   `json:"copy"`
	Lines []Line `json:"lines"`
	// QR is printed as a QR code after the lines when not empty.
	QR string `json:"qr,omitempty"`
}

// Merchant is the header data printed on every receipt.
type Merchant struct {
	Name string
}

// Build lays out the receipt for a journaled record. It only ever uses the
// masked PAN.
func Build(m Merchant, r txn.Record, c Copy, loc *time.Location) Receipt {
	if loc == nil {
		loc = time.UTC
	}
	amt, err := money.Format(r.Amount.Minor, r.Amount.Currency)
	if err != nil {
		amt = fmt.Sprintf("%d", r.Amount.Minor)
	}
	title := map[txn.Type]string{txn.Sale: "消费 SALE", txn.Void: "撤销 VOID", txn.Refund: "退货 REFUND"}[r.Type]
	copyName := "商户存根 MERCHANT COPY"
	if c == CustomerCopy {
		copyName = "持卡人存根 CUSTOMER COPY"
	}
	rc := Receipt{TxnID: r.ID, Copy: c}
	add := func(l Line) { rc.Lines = append(rc.Lines, l) }
	add(Line{Text: "签购单 POS RECEIPT", Align: Center, Bold: true})
	add(Line{Text: copyName, Align: Center})
	add(Line{Text: "商户名称 MERCHANT: " + m.Name})
	add(Line{Text: "商户编号 MID: " + r.Identity.MID})
	add(Line{Text: "终端编号 TID: " + r.Identity.TID})
	add(Line{Text: fmt.Sprintf("批次号 BATCH: %06d  凭证号 INV: %06d", r.Identity.Batch, r.Identity.Invoice)})
	add(Line{Text: fmt.Sprintf("流水号 STAN: %06d", r.Identity.STAN)})
	if r.MaskedPAN != "" {
		add(Line{Text: "卡号 CARD: " + r.MaskedPAN})
	}
	if r.Scheme != "" {
		add(Line{Text: "卡组织 SCHEME: " + r.Scheme})
	}
	add(Line{Text: "输入方式 ENTRY: " + strings.ToUpper(string(r.Entry))})
	add(Line{Text: "交易类型 TYPE: " + title, Bold: true})
	if r.Outcome.RRN != "" {
		add(Line{Text: "参考号 REF: " + r.Outcome.RRN})
	}
	if r.Outcome.AuthCode != "" {
		add(Line{Text: "授权码 AUTH: " + r.Outcome.AuthCode})
	}
	add(Line{Text: "日期时间 DATE: " + r.Created.In(loc).Format("2006-01-02 15:04:05")})
	add(Line{Text: "金额 AMOUNT: " + r.Amount.Currency.String() + " " + amt, Bold: true, Double: true})
	switch {
	case r.State == txn.StoredOffline:
		add(Line{Text: "离线交易 OFFLINE - stored, not yet authorised", Bold: true})
	case r.State == txn.Declined || r.State == txn.ForwardedDeclined:
		add(Line{Text: "交易失败 DECLINED " + r.Outcome.ResponseCode + " " + r.Outcome.Message, Bold: true})
	}
	if c == MerchantCopy && r.State != txn.Declined {
		add(Line{Text: "免密免签 NO SIGNATURE REQUIRED"})
	}
	rc.QR = fmt.Sprintf("%s/%06d/%06d", r.Identity.TID, r.Identity.Batch, r.Identity.STAN)
	return rc
}

// Text renders the receipt as plain text lines of the given width, the way
// a test or a log would show it.
func (r Receipt) Text(width int) string {
	var b strings.Builder
	for _, l := range r.Lines {
		t := l.Text
		pad := width - displayWidth(t)
		switch {
		case pad > 0 && l.Align == Center:
			t = strings.Repeat(" ", pad/2) + t
		case pad > 0 && l.Align == Right:
			t = strings.Repeat(" ", pad) + t
		}
		b.WriteString(t)
		b.WriteByte('\n')
	}
	if r.QR != "" {
		b.WriteString("[QR " + r.QR + "]\n")
	}
	return b.String()
}

// displayWidth counts CJK characters as two columns.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		if r >= 0x1100 {
			w += 2
		} else {
			w++
		}
	}
	return w
}
