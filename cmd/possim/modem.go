package main

import (
	"fmt"
	"net/http"

	modememu "github.com/posagent/posagent/cmd/possim/emu/modem"
)

// The Quectel-like 4G modem's AT port.
func init() {
	extraDevices = append(extraDevices, func(s *Sim) error {
		s.Modem = modememu.New(modememu.Default())
		s.add(DevModem, s.Modem)
		return nil
	})
	controlRoutes = append(controlRoutes, modemRoutes)
}

// modemRoutes:
//
//	POST /modem/state  {"registered":false}  detach (stat 0) / attach (stat 1);
//	                                         with --link, detaching also cuts the data path
//	                   {"csq":12}            signal (0-31, 99 unknown)
//	                   {"sim":"absent"}      SIM state: ready, absent, pin
//	                   {"wedged":true}       the AT channel stops answering
//	GET  /modem        the emulator's state
func modemRoutes(s *Sim, mux *http.ServeMux) {
	mux.HandleFunc("POST /modem/state", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Registered *bool   `json:"registered"`
			CSQ        *int    `json:"csq"`
			SIM        *string `json:"sim"`
			Wedged     *bool   `json:"wedged"`
		}
		if !decode(w, r, &body) {
			return
		}
		if body.CSQ != nil && (*body.CSQ < 0 || (*body.CSQ > 31 && *body.CSQ != 99)) {
			fail(w, http.StatusBadRequest, fmt.Errorf("csq: want 0-31 or 99, got %d", *body.CSQ))
			return
		}
		var simErr error
		s.Modem.Update(func(st *modememu.State) {
			if body.Registered != nil {
				st.Reg = 0
				if *body.Registered {
					st.Reg = 1
				}
			}
			if body.CSQ != nil {
				st.CSQ = *body.CSQ
			}
			if body.SIM != nil {
				switch *body.SIM {
				case "ready":
					st.SIM = modememu.SIMReady
				case "absent":
					st.SIM = modememu.SIMAbsent
				case "pin":
					st.SIM = modememu.SIMLocked
				default:
					simErr = fmt.Errorf("sim: want ready, absent or pin, got %q", *body.SIM)
				}
			}
		})
		if simErr != nil {
			fail(w, http.StatusBadRequest, simErr)
			return
		}
		if body.Wedged != nil {
			s.Modem.SetWedged(*body.Wedged)
		}
		if s.link != nil {
			st := s.Modem.State()
			s.link.setUp(st.Reg == 1 || st.Reg == 5)
		}
		reply(w, s.Modem.State())
	})
	mux.HandleFunc("GET /modem", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Modem.State())
	})
}
