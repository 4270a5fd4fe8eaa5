package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	emu "github.com/posagent/posagent/cmd/possim/emu/pn532"
	"github.com/posagent/posagent/core/emv/emvtest"
)

// The PN532 reader with the virtual EMV cards of core/emv/emvtest.
func init() {
	extraDevices = append(extraDevices, func(s *Sim) error {
		baud := bauds[DevReader]
		if s.opts.Unpaced {
			baud = 0
		}
		s.Reader = emu.New(emu.Options{Logger: s.log.With("device", DevReader), Baud: baud})
		s.add(DevReader, s.Reader)
		return nil
	})
	controlRoutes = append(controlRoutes, readerRoutes)
}

// cardByName finds a virtual card by a short name ("unionpay", "visa",
// "mastercard", "dual", "jcb") or its full name ("unionpay-qpboc").
func cardByName(name string) (*emvtest.Card, error) {
	short := map[string]func() *emvtest.Card{
		"unionpay": emvtest.UnionPay, "visa": emvtest.Visa, "mastercard": emvtest.Mastercard,
		"dual": emvtest.Dual, "jcb": emvtest.JCBOnly,
	}
	if f, ok := short[strings.ToLower(name)]; ok {
		return f(), nil
	}
	if c := emvtest.Lookup(name); c != nil {
		return c, nil
	}
	var names []string
	for n := range short {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("no virtual card %q (have %s)", name, strings.Join(names, ", "))
}

// readerRoutes:
//
//	POST /reader/tap     {"card":"unionpay"}   a card enters the field
//	POST /reader/remove  {"card":"visa"}       it leaves (no body: every card leaves)
//	POST /reader/two     {"a":"unionpay","b":"visa"}  two cards at once
//	POST /reader/fault   {"no_ack":1,"bad_checksum":0,"stall":"2s","garbage":0,"remove_during_exchange":0}
//	GET  /reader                               what is in the field, and counters
func readerRoutes(s *Sim, mux *http.ServeMux) {
	mux.HandleFunc("POST /reader/tap", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Card string `json:"card"`
		}
		if !decode(w, r, &body) {
			return
		}
		if body.Card == "" {
			body.Card = "unionpay"
		}
		c, err := cardByName(body.Card)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		s.Reader.Tap(c)
		reply(w, map[string]string{"present": s.Reader.Present(), "scheme": c.Scheme, "label": c.Label})
	})
	mux.HandleFunc("POST /reader/remove", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Card string `json:"card"`
		}
		if !decode(w, r, &body) {
			return
		}
		if body.Card == "" {
			s.Reader.Remove()
			reply(w, map[string]string{"present": s.Reader.Present()})
			return
		}
		// One of two cards leaves; the other stays as it is (halted if
		// the terminal released it).
		c, err := cardByName(body.Card)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if !s.Reader.RemoveCard(c.Name) {
			fail(w, http.StatusConflict, fmt.Errorf("%s is not in the field (present: %q)", body.Card, s.Reader.Present()))
			return
		}
		reply(w, map[string]string{"present": s.Reader.Present()})
	})
	mux.HandleFunc("POST /reader/two", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ A, B string }
		if !decode(w, r, &body) {
			return
		}
		a, err := cardByName(body.A)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		b, err := cardByName(body.B)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		s.Reader.TapTwo(a, b)
		reply(w, map[string]string{"present": s.Reader.Present()})
	})
	mux.HandleFunc("POST /reader/fault", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			NoACK                int    `json:"no_ack"`
			BadChecksum          int    `json:"bad_checksum"`
			Stall                string `json:"stall"`
			Garbage              int    `json:"garbage"`
			RemoveDuringExchange int    `json:"remove_during_exchange"`
		}
		if !decode(w, r, &body) {
			return
		}
		f := emu.Fault{NoACK: body.NoACK, BadChecksum: body.BadChecksum, Garbage: body.Garbage, RemoveDuringExchange: body.RemoveDuringExchange}
		if body.Stall != "" {
			d, err := time.ParseDuration(body.Stall)
			if err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("stall: %w", err))
				return
			}
			f.Stall = d
		}
		s.Reader.SetFault(f)
		reply(w, s.Reader.Faults())
	})
	mux.HandleFunc("GET /reader", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"present": s.Reader.Present(), "stats": s.Reader.Stats()})
	})
}
