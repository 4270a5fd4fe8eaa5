package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// controlRoutes are added by files that add devices (init funcs).
var controlRoutes []func(s *Sim, mux *http.ServeMux)

// Handler is the control API (JSON over the unix socket DIR/possim.sock):
//
//	GET  /devices                      devices, links, current pty, plugged
//	POST /devices/{name}/unplug        the device node disappears
//	POST /devices/{name}/replug        it comes back under a new pty
//	POST /printer/state                {"paper_out":true,"cover_open":false,...} (fields optional)
//	GET  /printer/receipts             receipts printed so far (text, problems, byte counts)
//	POST /scanner/scan                 {"code":"6212..."}
//
// plus the reader and modem routes of their own files.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		type dev struct {
			Name    string `json:"name"`
			Link    string `json:"link"`
			Path    string `json:"path"`
			Plugged bool   `json:"plugged"`
		}
		var out []dev
		for _, n := range s.Names() {
			d := s.devices[n]
			out = append(out, dev{n, d.Link(), d.Path(), d.Plugged()})
		}
		reply(w, out)
	})
	mux.HandleFunc("POST /devices/{name}/unplug", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Device(r.PathValue("name"))
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		d.Unplug()
		s.log.Info("unplugged", "device", d.Name())
		reply(w, map[string]any{"device": d.Name(), "plugged": false})
	})
	mux.HandleFunc("POST /devices/{name}/replug", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Device(r.PathValue("name"))
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		if err := d.Plug(s.ctx()); err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		s.log.Info("replugged", "device", d.Name(), "path", d.Path())
		reply(w, map[string]any{"device": d.Name(), "plugged": true, "path": d.Path()})
	})
	mux.HandleFunc("POST /printer/state", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			PaperOut, PaperNearEnd, CoverOpen, Offline, CutterError *bool
		}
		if !decode(w, r, &body) {
			return
		}
		st := s.Printer.State()
		set := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		set(&st.PaperOut, body.PaperOut)
		set(&st.PaperNearEnd, body.PaperNearEnd)
		set(&st.CoverOpen, body.CoverOpen)
		set(&st.Offline, body.Offline)
		set(&st.CutterError, body.CutterError)
		s.Printer.SetState(st)
		reply(w, st)
	})
	mux.HandleFunc("GET /printer/receipts", func(w http.ResponseWriter, r *http.Request) {
		type rc struct {
			Seq      int      `json:"seq"`
			Text     string   `json:"text"`
			Problems []string `json:"problems,omitempty"`
			Bytes    int      `json:"bytes"`
			PNG      string   `json:"png,omitempty"`
		}
		var out []rc
		for _, x := range s.Printer.Receipts() {
			png := ""
			if s.Printer.Config().Dir != "" {
				png = fmt.Sprintf("%s/receipt-%04d.png", s.Printer.Config().Dir, x.Seq)
			}
			out = append(out, rc{x.Seq, x.Text, x.Problems, x.Bytes, png})
		}
		reply(w, out)
	})
	mux.HandleFunc("POST /scanner/scan", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Code string `json:"code"`
		}
		if !decode(w, r, &body) {
			return
		}
		if body.Code == "" {
			fail(w, http.StatusBadRequest, fmt.Errorf("code: empty"))
			return
		}
		s.Scanner.Inject(body.Code)
		reply(w, map[string]any{"queued": s.Scanner.Pending()})
	})
	for _, add := range controlRoutes {
		add(s, mux)
	}
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return false
	}
	return true
}
