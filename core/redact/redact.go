// Package redact keeps Primary Account Numbers out of logs (DESIGN.md
// invariant 5).
//
// String masks every PAN-shaped digit run in free text to first 6 / last 4
// with core/card.Mask, in place, so the text keeps its length and layout.
// NewHandler wraps a log/slog Handler so that every record passes through
// String before the wrapped handler formats it.
//
// What counts as a PAN: 13 to 19 ASCII digits that pass the Luhn check,
// either as one maximal run of digits ("6212345678901232", also when glued
// to letters as in "pan6212345678901232x") or as consecutive groups of
// digits joined by single spaces or dashes ("6212 3456 7890 1232",
// "6212-3456-7890-1232"). In a sequence of groups every run of whole groups
// is tried, so a PAN written after a date or a counter ("2024-01-15
// 6212 3456 7890 1232") is still found. A maximal run of digits longer than
// 19 is never a PAN, and neither is any part of it; runs that fail the Luhn
// check (timestamps, STANs, amounts) are left alone. About one in ten
// arbitrary 13-19 digit numbers passes Luhn by chance and is masked too:
// that is the price of never missing a PAN.
package redact

import (
	"github.com/posagent/posagent/core/card"
)

// Length limits of a PAN (ISO/IEC 7812), for the purpose of redaction.
const (
	MinPANDigits = 13
	MaxPANDigits = 19
)

// span is a maximal run of ASCII digits, s[start:end].
type span struct{ start, end int }

func (g span) len() int { return g.end - g.start }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// String returns s with every PAN masked to first 6 / last 4: the masked
// digits become '*', everything else (separators, surrounding text) is kept
// byte for byte, so len(String(s)) == len(s). It returns s itself when
// there is nothing to mask. See the package doc for what is masked.
func String(s string) string {
	// Fast path: a line with fewer than 13 digits cannot hold a PAN.
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	if n < MinPANDigits {
		return s
	}

	var (
		out    []byte // copy of s, made on the first mask
		seqBuf [8]span
		seq    = seqBuf[:0] // groups of the current sequence
	)
	flush := func() {
		if len(seq) > 0 {
			out = maskSequence(s, seq, out)
			seq = seq[:0]
		}
	}
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		g := span{start, i}
		// A group continues the sequence when exactly one separator
		// stands between it and the previous group.
		if len(seq) > 0 {
			prev := seq[len(seq)-1]
			if !(g.start == prev.end+1 && isSep(s[prev.end])) {
				flush()
			}
		}
		if g.len() > MaxPANDigits {
			// Too long to be, or to be part of, a PAN; it also ends the
			// sequence, since no PAN can span it.
			flush()
			continue
		}
		seq = append(seq, g)
	}
	flush()
	if out == nil {
		return s
	}
	return string(out)
}

func isSep(c byte) bool { return c == ' ' || c == '-' }

// maskSequence masks every run of whole groups in seq that holds a
// Luhn-valid PAN. Ranges are checked against the original s, so masks do not
// influence each other, and the union of all masks is applied: each PAN
// found shows at most its first 6 and last 4 digits. out is the output
// buffer, nil until something is masked.
func maskSequence(s string, seq []span, out []byte) []byte {
	for i := range seq {
		total := 0
		for j := i; j < len(seq); j++ {
			total += seq[j].len()
			if total > MaxPANDigits {
				break
			}
			if total < MinPANDigits || s[seq[i].start] == '0' || !luhnGroups(s, seq[i:j+1]) {
				// A PAN starts with its major industry identifier, 1-9:
				// a run starting with 0 (a zero-padded counter, an ID)
				// is not one.
				continue
			}
			if out == nil {
				out = []byte(s)
			}
			applyMask(s, seq[i:j+1], total, out)
		}
	}
	return out
}

// luhnGroups runs the Luhn check over the digits of groups, right to left.
func luhnGroups(s string, groups []span) bool {
	sum := 0
	double := false
	for k := len(groups) - 1; k >= 0; k-- {
		g := groups[k]
		for p := g.end - 1; p >= g.start; p-- {
			d := int(s[p] - '0')
			if double {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

// applyMask writes card.Mask of the PAN in groups over its digit positions
// in out, leaving the separators where they are.
func applyMask(s string, groups []span, n int, out []byte) {
	var digits [MaxPANDigits]byte
	k := 0
	for _, g := range groups {
		k += copy(digits[k:], s[g.start:g.end])
	}
	masked := card.Mask(string(digits[:n]))
	k = 0
	for _, g := range groups {
		for p := g.start; p < g.end; p++ {
			if masked[k] == '*' {
				out[p] = '*'
			}
			k++
		}
	}
}
