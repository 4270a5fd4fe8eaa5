package board

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/drivers/modem"
	"github.com/posagent/posagent/drivers/pn532"
	"github.com/posagent/posagent/drivers/serialio"
)

// Check is one device's self-test result.
type Check struct {
	Device   string `json:"device"`
	Port     string `json:"port,omitempty"`
	Status   string `json:"status"` // "ok", "missing", "faulty"
	Reason   string `json:"reason"` // one line
	Required bool   `json:"required"`
}

// Diagnosis is the technician's self-test of a board.
type Diagnosis struct {
	Profile string              `json:"profile"`
	Ports   []serialio.PortInfo `json:"ports"`
	Checks  []Check             `json:"checks"`
}

// OK reports whether every required device passed.
func (d Diagnosis) OK() bool {
	for _, c := range d.Checks {
		if c.Required && c.Status != "ok" {
			return false
		}
	}
	return true
}

// Diagnose pings every device the board has: the reader's firmware
// version, the printer's status, the scanner's port, the modem's identity,
// SIM, registration and signal; it flashes the lights and beeps where
// there is GPIO (through the indicator). Each check has its own deadline.
func Diagnose(ctx context.Context, d *Devices) Diagnosis {
	diag := Diagnosis{Profile: d.Profile}
	if ports, err := serialio.List(ctx); err == nil {
		diag.Ports = ports
	}
	check := func(name string, port portStatus, required bool, probe func(ctx context.Context) (string, error)) {
		c := Check{Device: name, Required: required}
		if port != nil {
			c.Port = port.Path()
			if st := port.Status(); st != serialio.StatusOK {
				c.Status = "missing"
				if st != serialio.StatusGone && st != serialio.StatusMissing {
					c.Status = "faulty"
				}
				c.Reason = fmt.Sprintf("port %s: %s", st, errText(port.Err()))
				diag.Checks = append(diag.Checks, c)
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		what, err := probe(pctx)
		if err != nil {
			c.Status, c.Reason = "faulty", err.Error()
		} else {
			c.Status, c.Reason = "ok", what
		}
		diag.Checks = append(diag.Checks, c)
	}
	if d.Reader != nil {
		check("reader", d.readerPort, true, func(ctx context.Context) (string, error) {
			fw, err := d.Reader.FirmwareVersion(ctx)
			if errors.Is(err, pn532.ErrNoACK) {
				// A PN532 that was never woken (power-on, before the first
				// sale) sleeps in Low VBat mode and acknowledges nothing:
				// wake it as a sale would, and ask again.
				if werr := d.Reader.WakeUp(ctx); werr != nil {
					return "", fmt.Errorf("no firmware version: %w; wake-up: %w", err, werr)
				}
				fw, err = d.Reader.FirmwareVersion(ctx)
			}
			if err != nil {
				return "", fmt.Errorf("no firmware version: %w", err)
			}
			return fmt.Sprintf("PN5%02X firmware %d.%d", fw.IC, fw.Ver, fw.Rev), nil
		})
	}
	if d.EscPos != nil {
		check("printer", d.printerPort, true, func(ctx context.Context) (string, error) {
			st, err := d.EscPos.Status(ctx)
			if err != nil {
				return "", fmt.Errorf("no status: %w", err)
			}
			if err := st.Err(); err != nil {
				return "", err
			}
			return "online, " + st.String(), nil
		})
	}
	if d.scannerPort != nil {
		check("scanner", d.scannerPort, false, func(ctx context.Context) (string, error) {
			return "port open", nil
		})
	}
	if d.Modem != nil {
		check("modem", d.modemPort, false, func(ctx context.Context) (string, error) {
			id, err := d.Modem.Identity(ctx)
			if err != nil {
				return "", fmt.Errorf("no identity: %w", err)
			}
			st, err := d.Modem.Status(ctx)
			if err != nil {
				return "", err
			}
			if !st.Responsive {
				return "", fmt.Errorf("AT channel not answering")
			}
			reg := "not registered"
			if st.Registered {
				reg = "registered " + st.Operator
			}
			sig := "signal unknown"
			if st.Signal.Known {
				sig = fmt.Sprintf("signal %d dBm", st.Signal.DBm)
			}
			simOK := st.SIM == modem.SIMReady
			if !simOK {
				return "", fmt.Errorf("%s %s: SIM %s", id.Manufacturer, id.Model, st.SIM)
			}
			return fmt.Sprintf("%s %s, SIM ready, %s, %s", id.Manufacturer, id.Model, reg, sig), nil
		})
	}
	if d.Indicator != nil {
		d.Indicator.Indicate(ctx, "success")
	}
	return diag
}

// portStatus is what diag needs of a serial port.
type portStatus interface {
	Status() serialio.Status
	Err() error
	Path() string
}

func errText(err error) string {
	if err == nil {
		return "no error recorded"
	}
	return err.Error()
}
