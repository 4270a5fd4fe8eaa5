// Package escpos emulates an Epson-compatible (ESC/POS) thermal receipt
// printer for possim: a ptydev.Handler that reads the byte stream a
// driver sends over a serial line, prints it onto emulated paper, and
// answers real-time status requests from a state the control API sets.
//
// It is written from the printer manuals (Epson TM-T88/TM-T81/TM-U220
// specifications and the clones that follow them: HPRT, Citizen, Cino,
// HWASUNG), not from drivers/escpos, which it must not import: it is the
// other side of the wire, so a shared misreading cannot hide in both.
// docs/possim.md lists the commands and their sources.
//
// # Paper
//
// Each cut (GS V, or ESC i / ESC m) ends a Receipt: the text as printed
// (alignment applied at the printer's column count), a 1-bit PNG at the
// printer's width in dots (text from GNU Unifont glyphs scaled to the
// 12×24 and 24×24 cells and the GS ! magnification, bold by double
// striking; CODE128 and EAN/UPC bars; QR Code modules; raster images),
// the problems found (unknown commands, garbage characters, a missing
// font) and the byte count. A printer without a cutter ends a receipt
// when Tear is called or, with Config.AutoTear, when the paper has stood
// still that long.
//
// # Timing
//
// The printer reads no faster than the line (Config.Baud, 10 bits per
// byte) and no more than its receive buffer holds (Config.BufferBytes);
// the buffer drains as the paper moves at Config.SpeedMMs (8 dots per
// mm: a text line moves max(line spacing, character height) dots, a
// raster row one dot). With the buffer full the emulator stops reading,
// so the driver's writes back up in the pseudo-terminal and then block:
// the back-pressure a real printer's flow control gives. While the
// printer is offline (paper out, cover open, offline, cutter error) it
// prints nothing and the buffered data waits. Config.Unpaced turns the
// timing off for fast tests. Time comes from an injected core/clock.
//
// # Status
//
// DLE EOT n (10 04 n, n = 1-4) is answered with one byte as soon as it
// has been read, wherever it stands in the stream (as Epson firmware
// does, even inside image data); see State.StatusByte for the bits.
package escpos
