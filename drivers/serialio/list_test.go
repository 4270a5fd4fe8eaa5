package serialio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeTree builds a sysfs and /dev layout shaped like a real one (see
// Documentation/ABI/testing/sysfs-class-tty and a USB device's sysfs
// directory): symlinks from /sys/class/tty into /sys/devices, a "device"
// link from each tty to its parent, USB attributes on the USB device.
func fakeTree(t *testing.T) (sys, dev string) {
	t.Helper()
	root := t.TempDir()
	sys, dev = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	usbDev := func(dir, vid, pid, serial, mfr, product string) {
		write(filepath.Join(dir, "idVendor"), vid)
		write(filepath.Join(dir, "idProduct"), pid)
		if serial != "" {
			write(filepath.Join(dir, "serial"), serial)
		}
		write(filepath.Join(dir, "manufacturer"), mfr)
		write(filepath.Join(dir, "product"), product)
	}
	// tty registers a class entry NAME whose class device lives under
	// parent/<sub>/tty/NAME with "device" pointing at parent/<sub> (or at
	// parent when sub is "").
	tty := func(parent, sub, name string) string {
		devDir := parent
		if sub != "" {
			devDir = filepath.Join(parent, sub)
		}
		classDev := filepath.Join(devDir, "tty", name)
		write(filepath.Join(classDev, "dev"), "188:0")
		rel, _ := filepath.Rel(classDev, devDir)
		symlink(rel, filepath.Join(classDev, "device"))
		rel, _ = filepath.Rel(filepath.Join(sys, "class", "tty"), classDev)
		symlink(rel, filepath.Join(sys, "class", "tty", name))
		write(filepath.Join(dev, name), "")
		return classDev
	}
	usb := filepath.Join(sys, "devices", "pci0000:00", "0000:00:14.0", "usb1")
	write(filepath.Join(usb, "idVendor"), "1d6b") // root hub: must not be reached

	// A CH340-style USB serial printer: ttyUSB0 under a usb-serial port.
	usbDev(filepath.Join(usb, "1-1"), "0416", "5011", "ABC123", "Winbond", "POS58 Printer")
	write(filepath.Join(usb, "1-1", "1-1:1.0", "bInterfaceNumber"), "00")
	tty(filepath.Join(usb, "1-1", "1-1:1.0"), "ttyUSB0", "ttyUSB0")

	// A CDC ACM reader: ttyACM0's device is the USB interface itself.
	usbDev(filepath.Join(usb, "1-2"), "0483", "5740", "", "STMicro", "Virtual COM")
	write(filepath.Join(usb, "1-2", "1-2:1.0", "bInterfaceNumber"), "00")
	tty(filepath.Join(usb, "1-2", "1-2:1.0"), "", "ttyACM0")

	// A Quectel modem: several ports with the same VID:PID.
	usbDev(filepath.Join(usb, "1-3"), "2c7c", "0125", "", "Quectel", "EC25-AF")
	for _, i := range []string{"2", "3"} {
		write(filepath.Join(usb, "1-3", "1-3:1."+i, "bInterfaceNumber"), "0"+i)
		tty(filepath.Join(usb, "1-3", "1-3:1."+i), "ttyUSB"+i, "ttyUSB"+i)
	}

	// A real 16550 UART and a placeholder (type 0): the placeholder is
	// skipped without being opened.
	s0 := tty(filepath.Join(sys, "devices", "pnp0", "00:00"), "", "ttyS0")
	write(filepath.Join(s0, "type"), "4")
	s1 := tty(filepath.Join(sys, "devices", "platform", "serial8250"), "", "ttyS1")
	write(filepath.Join(s1, "type"), "0")

	// A virtual console: no device link.
	write(filepath.Join(sys, "devices", "virtual", "tty", "tty0", "dev"), "4:0")
	symlink("../../devices/virtual/tty/tty0", filepath.Join(sys, "class", "tty", "tty0"))

	symlink("../../ttyUSB0", filepath.Join(dev, "serial", "by-id", "usb-Winbond_POS58_Printer_ABC123-if00-port0"))
	return sys, dev
}

func TestListFromSysfs(t *testing.T) {
	sys, dev := fakeTree(t)
	got, err := listFrom(context.Background(), sys, dev)
	if err != nil {
		t.Fatal(err)
	}
	want := []PortInfo{
		{Name: dev + "/ttyACM0", USB: true, VID: "0483", PID: "5740", Manufacturer: "STMicro", Product: "Virtual COM", Interface: "00"},
		{Name: dev + "/ttyS0"},
		{Name: dev + "/ttyUSB0", USB: true, VID: "0416", PID: "5011", Serial: "ABC123", Manufacturer: "Winbond", Product: "POS58 Printer", Interface: "00",
			ByID: dev + "/serial/by-id/usb-Winbond_POS58_Printer_ABC123-if00-port0"},
		{Name: dev + "/ttyUSB2", USB: true, VID: "2C7C", PID: "0125", Manufacturer: "Quectel", Product: "EC25-AF", Interface: "02"},
		{Name: dev + "/ttyUSB3", USB: true, VID: "2C7C", PID: "0125", Manufacturer: "Quectel", Product: "EC25-AF", Interface: "03"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List:\n got %+v\nwant %+v", got, want)
	}
	if got[2].USBID() != "0416:5011" || got[1].USBID() != "" {
		t.Errorf("USBID() = %q, %q", got[2].USBID(), got[1].USBID())
	}
}

func TestListOnThisMachine(t *testing.T) {
	// Reads the real sysfs (never opens a port); whatever is there must
	// list without error and with device paths.
	ports, err := List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if !strings.HasPrefix(p.Name, "/dev/") {
			t.Errorf("port %+v has no /dev path", p)
		}
		t.Logf("%+v", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if len(ports) > 0 {
		if _, err := List(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("List with a cancelled context = %v", err)
		}
	}
}

func TestResolveUSBThroughSysfs(t *testing.T) {
	sys, dev := fakeTree(t)
	oldSys, oldDev := sysfsRoot, devRoot
	sysfsRoot, devRoot = sys, dev
	t.Cleanup(func() { sysfsRoot, devRoot = oldSys, oldDev })
	cases := []struct {
		spec string
		want string
		err  error
	}{
		{"0416:5011", dev + "/ttyUSB0", nil},
		{"0416:5011:ABC123", dev + "/ttyUSB0", nil},
		{"0483:5740", dev + "/ttyACM0", nil},
		{"0416:5011:XYZ", "", ErrMissing},
		{"1d6b:0002", "", ErrMissing}, // the root hub has no tty
		{"2c7c:0125", "", ErrAmbiguous},
	}
	for _, c := range cases {
		got, err := resolveUSB(context.Background(), c.spec)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("resolveUSB(%q) = %q, %v; want %q, %v", c.spec, got, err, c.want, c.err)
		}
	}
	_, err := resolveUSB(context.Background(), "2c7c:0125")
	for _, s := range []string{dev + "/ttyUSB2 (interface 02)", dev + "/ttyUSB3 (interface 03)", "by-id"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("ambiguity error %q lacks %q", err, s)
		}
	}
}

func TestResolveUSBWithFakeLister(t *testing.T) {
	ports := []PortInfo{
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyUSB0", USB: true, VID: "1A86", PID: "7523", Serial: ""},
		{Name: "/dev/ttyUSB1", USB: true, VID: "0403", PID: "6001", Serial: "FT1"},
		{Name: "/dev/ttyUSB2", USB: true, VID: "0403", PID: "6001", Serial: "FT2"},
		{Name: "/dev/ttyUSB3", USB: true, VID: "zz", PID: "6001"}, // garbage in sysfs: never matches
	}
	fakeList(t, ports, nil)
	cases := []struct {
		spec, want string
		err        error
	}{
		{"1a86:7523", "/dev/ttyUSB0", nil},
		{"1A86:7523", "/dev/ttyUSB0", nil},
		{"0403:6001:FT2", "/dev/ttyUSB2", nil},
		{"0403:6001:ft2", "", ErrMissing}, // serial numbers are exact
		{"0403:6001", "", ErrAmbiguous},
		{"dead:beef", "", ErrMissing},
		{"0403", "", ErrConfig},
	}
	for _, c := range cases {
		got, err := resolveUSB(context.Background(), c.spec)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("resolveUSB(%q) = %q, %v; want %q, %v", c.spec, got, err, c.want, c.err)
		}
	}
	boom := errors.New("sysfs unreadable")
	fakeList(t, nil, boom)
	if _, err := resolveUSB(context.Background(), "1a86:7523"); !errors.Is(err, ErrMissing) || !errors.Is(err, boom) {
		t.Errorf("lister failure = %v", err)
	}
}

func TestParseUSBID(t *testing.T) {
	good := []struct {
		in   string
		want USBID
		str  string
	}{
		{"0416:5011", USBID{0x0416, 0x5011, ""}, "0416:5011"},
		{"2c7c:0125", USBID{0x2C7C, 0x0125, ""}, "2C7C:0125"},
		{"0403:6001:A9:B8", USBID{0x0403, 0x6001, "A9:B8"}, "0403:6001:A9:B8"},
		{"0403:6001:序列 1", USBID{0x0403, 0x6001, "序列 1"}, "0403:6001:序列 1"},
	}
	for _, g := range good {
		got, err := ParseUSBID(g.in)
		if err != nil || got != g.want || got.String() != g.str {
			t.Errorf("ParseUSBID(%q) = %+v, %v (String %q); want %+v, %q", g.in, got, err, got.String(), g.want, g.str)
		}
	}
	bad := []struct{ in, mention string }{
		{"", "VVVV:PPPP"},
		{"0416", "VVVV:PPPP"},
		{"416:5011", "vendor id at offset 0"},
		{"0416:501", "product id at offset 5"},
		{"0x16:5011", "vendor id"},
		{"0416:+011", "product id"},
		{"04165:011", "vendor id"},
		{"0416:5011:", "empty serial number at offset 10"},
		{"0416:5011:A\x01", "control character U+0001 in serial number at offset 11"},
		{"0416:5011:\xff", "not UTF-8"},
		{"0416:5011:" + strings.Repeat("x", 379), "limit 378"},
	}
	for _, b := range bad {
		_, err := ParseUSBID(b.in)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), b.mention) {
			t.Errorf("ParseUSBID(%q) = %v, want ErrConfig mentioning %q", b.in, err, b.mention)
		}
	}
}

func FuzzParseUSBID(f *testing.F) {
	for _, s := range []string{"0416:5011", "2c7c:0125:abc", "0403:6001:A9:B8", "", ":", "0416:5011:", "ffff:ffff:\x00", "0416:5011:\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseUSBID(s)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		again, err := ParseUSBID(id.String())
		if err != nil || again != id {
			t.Fatalf("round trip of %q: %q → %+v, %v; want %+v", s, id.String(), again, err, id)
		}
		if !strings.EqualFold(id.String(), s) {
			t.Fatalf("String %q of %q differs beyond hex case", id.String(), s)
		}
		p := PortInfo{USB: true, VID: id.String()[0:4], PID: id.String()[5:9], Serial: id.Serial}
		if !id.Matches(p) {
			t.Fatalf("%+v does not match its own port %+v", id, p)
		}
	})
}
