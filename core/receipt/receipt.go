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

// Columns is the width every line of a built receipt fits in: the
// narrowest paper posagent prints on, 58 mm (384 dots, 32 columns of the
// 12-dot Font A; a CJK character takes two). Wider paper (80 mm, 48
// columns) prints the same lines with room to spare. A double-size line
// counts twice its width.
const Columns = 32

// Build lays out the receipt for a journaled record. It only ever uses the
// masked PAN. Every line fits in Columns: a label and its value share a
// line when they fit, and otherwise the value goes on the next line, so a
// printer never breaks a line in the middle of a field.
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
	add := func(l Line) {
		cols := Columns
		if l.Double {
			cols /= 2
		}
		for _, t := range wrap(l.Text, cols) {
			l.Text = t
			rc.Lines = append(rc.Lines, l)
		}
	}
	field := func(label, value string, bold bool) {
		if displayWidth(label)+1+displayWidth(value) <= Columns {
			add(Line{Text: label + " " + value, Bold: bold})
			return
		}
		add(Line{Text: label, Bold: bold})
		add(Line{Text: value, Bold: bold})
	}
	add(Line{Text: "签购单 POS RECEIPT", Align: Center, Bold: true})
	add(Line{Text: copyName, Align: Center})
	field("商户名称 MERCHANT:", m.Name, false)
	field("商户编号 MID:", r.Identity.MID, false)
	field("终端编号 TID:", r.Identity.TID, false)
	field("批次号 BATCH:", fmt.Sprintf("%06d", r.Identity.Batch), false)
	field("凭证号 INV:", fmt.Sprintf("%06d", r.Identity.Invoice), false)
	field("流水号 STAN:", fmt.Sprintf("%06d", r.Identity.STAN), false)
	if r.MaskedPAN != "" {
		field("卡号 CARD:", r.MaskedPAN, false)
	}
	if r.Scheme != "" {
		field("卡组织 SCHEME:", r.Scheme, false)
	}
	field("输入方式 ENTRY:", strings.ToUpper(string(r.Entry)), false)
	field("交易类型 TYPE:", title, true)
	if r.Outcome.RRN != "" {
		field("参考号 REF:", r.Outcome.RRN, false)
	}
	if r.Outcome.AuthCode != "" {
		field("授权码 AUTH:", r.Outcome.AuthCode, false)
	}
	field("日期时间 DATE:", r.Created.In(loc).Format("2006-01-02 15:04:05"), false)
	add(Line{Text: "金额 AMOUNT:", Bold: true})
	add(Line{Text: r.Amount.Currency.String() + " " + amt, Bold: true, Double: true})
	switch {
	case r.State == txn.StoredOffline:
		add(Line{Text: "离线交易 OFFLINE", Bold: true})
		add(Line{Text: "stored, not yet authorised", Bold: true})
	case r.State == txn.Declined || r.State == txn.ForwardedDeclined:
		add(Line{Text: "交易失败 DECLINED " + r.Outcome.ResponseCode, Bold: true})
		if r.Outcome.Message != "" {
			add(Line{Text: r.Outcome.Message, Bold: true})
		}
	}
	if c == MerchantCopy && r.State != txn.Declined {
		add(Line{Text: "免密免签 NO SIGNATURE REQUIRED"})
	}
	rc.QR = fmt.Sprintf("%s/%06d/%06d", r.Identity.TID, r.Identity.Batch, r.Identity.STAN)
	return rc
}

// wrap breaks text into lines of at most cols display columns, at spaces
// where it can and inside a word (or between CJK characters) where it
// must. Text that fits is returned as it is.
func wrap(text string, cols int) []string {
	if displayWidth(text) <= cols {
		return []string{text}
	}
	var lines []string
	var cur strings.Builder
	w := 0
	flush := func() {
		lines = append(lines, strings.TrimRight(cur.String(), " "))
		cur.Reset()
		w = 0
	}
	for _, word := range strings.SplitAfter(text, " ") {
		ww := displayWidth(strings.TrimRight(word, " "))
		if w > 0 && w+ww > cols {
			flush()
		}
		for _, r := range word {
			rw := displayWidth(string(r))
			if w+rw > cols {
				if r == ' ' {
					continue
				}
				flush()
			}
			if w == 0 && r == ' ' {
				continue
			}
			cur.WriteRune(r)
			w += rw
		}
	}
	if cur.Len() > 0 {
		flush()
	}
	return lines
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

// ReprintLine marks a receipt printed again on request.
const ReprintLine = "重打印 REPRINT"

// AsReprint returns a copy of r marked as a reprint: a bold centred
// ReprintLine under the copy name, so a reprint can never pass for a
// second sale.
func (r Receipt) AsReprint() Receipt {
	out := r
	out.Lines = make([]Line, 0, len(r.Lines)+1)
	at := min(2, len(r.Lines)) // after the title and the copy name
	out.Lines = append(out.Lines, r.Lines[:at]...)
	out.Lines = append(out.Lines, Line{Text: ReprintLine, Align: Center, Bold: true})
	out.Lines = append(out.Lines, r.Lines[at:]...)
	return out
}
