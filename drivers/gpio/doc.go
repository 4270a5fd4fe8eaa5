// Package gpio drives the terminal's GPIO lines through periph.io: the
// four contactless status lights and the buzzer (outputs), the modem's
// power key (a timed pulse), the tamper switch and the paper sensor
// (debounced inputs).
//
// periph.io is used through a thin layer with our own semantics, because
// the raw API has traps that bit users of comparable systems
// (docs/gpio.md, user-issues §8):
//
//   - WaitForEdge's timeout means different things per host driver (on the
//     character-device driver 0 waits forever and -1 returns at once; on
//     the others -1 waits forever). Input.WaitEdge takes a context and only
//     ever passes periph a bounded positive timeout (a slice), looping so
//     that a cancelled context is seen within one slice.
//   - Edges can be lost, doubled or out of order. After an edge the level
//     is re-read once the debounce time has passed and only a stable,
//     changed level is reported; a level change that came without an edge
//     is caught by a re-read at the end of every quiet slice.
//   - Edge detection may not be available at all (In with BothEdges
//     fails); Input then polls. Every In and Out error is checked.
//   - gpioreg.ByName returns nil for an unknown pin; Lookup and Open turn
//     that into ErrNoPin naming the pin and the role it was meant for, a
//     clear start-up error.
//
// Logic levels: High means "asserted" everywhere in this package (light
// on, buzzer sounding, power key pressed, case open, paper present). A
// line wired the other way round is opened with an ",active-low" pin spec
// (ParseSpec), which inverts it in software.
//
// Nothing here keeps time with time.Now or time.Sleep: every wait uses an
// injected core/clock.Clock, so tests drive time with clock.Fake.
//
// # Sources
//
//   - periph.io/x/conn/v3 v3.7.3 gpio, gpioreg, gpiotest; periph.io/x/host/v3
//     v3.8.5 gpioioctl (read in the module cache).
//   - EMVCo Contactless Book A, the four-light convention, as described by
//     Adyen and MagTek manuals (docs/gpio.md has the details and what could
//     not be checked).
//   - Quectel PWRKEY timing: Quectel compatible-design note as quoted in
//     particle-iot/device-os#2329, and Arm Mbed OS QUECTEL_EC2X.cpp.
package gpio
