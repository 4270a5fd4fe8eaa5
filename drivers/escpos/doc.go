// Package escpos drives Epson-compatible (ESC/POS) thermal receipt
// printers: a pure byte encoder (Builder), per-model capability profiles
// (Profile), receipt rendering (Render), the real-time status parser
// (ParseStatus) and a printer driver over a small transport (Printer).
//
// # Layers
//
//   - Builder appends ESC/POS commands to a byte slice. It does no I/O;
//     every command is covered by a golden-byte test whose expected hex
//     names the manual's definition.
//   - Render turns a core/receipt Receipt into bytes for one Profile:
//     Chinese text through the profile's encoding (GBK by default, inside
//     FS & … FS .), the QR code natively (GS ( k), as a raster image
//     (GS v 0 in strips) or as text, and a feed and cut. Characters the
//     printer cannot print become '?' and are returned as Problems so the
//     caller can choose to print that line as an image; garbage is never
//     sent.
//   - ParseStatus decodes the four DLE EOT n replies; a byte whose fixed
//     bits are wrong is rejected as not a status byte.
//   - Printer checks status before printing (paper out, cover open,
//     offline, fault → sentinel errors), writes the job in chunks that end
//     on command boundaries (never dropping bytes on short writes, honouring
//     the context between chunks), and checks status again after.
//
// Sources for every command and status bit are listed in docs/escpos.md.
//
// # Transport
//
// Transport has the shape of go.bug.st/serial's Port subset: Read returning
// (0, nil) is a read timeout. The board package wires a real serial port;
// tests use an in-memory fake.
package escpos
