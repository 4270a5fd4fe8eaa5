package config

// Sample returns a commented sample config that lists every key with its
// default (or an example where there is no default). It is valid as it
// stands, with an example terminal identity that must be replaced before
// the terminal goes live. `posagent config sample` prints it.
func Sample() string { return sample }

const sample = `# posagent configuration (TOML).
#
# Every key is shown. Keys marked "default" may be left out; unknown keys are
# an error. Durations are Go duration strings ("500ms", "30s", "24h").
# Amounts are decimal strings in the terminal currency ("1000.00" for CNY,
# "1000" for JPY); with a currency other than 156 (CNY) the amount keys that
# are used must be given, because their defaults are CNY amounts.

[terminal]
tid = "12345678"             # terminal ID from the acquirer: 8 letters/digits (required)
mid = "123456789012345"      # merchant ID from the acquirer: 15 letters/digits (required)
merchant_name = "测试商户"    # printed on receipts, at most 40 characters (required)
currency = "156"             # ISO 4217 numeric, default "156" (CNY)
timezone = "Asia/Shanghai"   # IANA zone for receipts and settlement, default "Asia/Shanghai"

[journal]
path = "/var/lib/posagent/journal.db"     # default
key_file = "/var/lib/posagent/device.key" # device key the journal seals with, default
lock_timeout = "1s"                       # wait for the journal file lock, default "1s"

[board]
profile = "auto"  # "auto" (detect), "sim" (possim devices) or a board profile name, default "auto"
sim_dir = ""      # sim profile only: directory possim's devices live in, default "" (possim's default)
sim_autotap = "0s" # sim profile only: the stand-in card taps itself this long after a sale starts; "0s" = never

[api]
socket = "/run/posagent/api.sock"  # local API unix socket, default; "" only when tcp is set
tcp = ""                           # optional loopback listener, e.g. "127.0.0.1:8080"
token_file = ""                    # bearer token file, required when tcp is set

[payment]
card_timeout = "60s"     # wait for a card or QR code, default "60s"
auth_timeout = "30s"     # wait for the acquirer's answer, default "30s"
reversal_retries = 3     # reversal attempts before manual handling, 1..3, default 3
reversal_spacing = "15s" # least time between two attempts of a reversal, doubled after each; 1s..10m
max_amount = "50000.00"  # per transaction; "" = no limit (the default)
cvm_limit = "1000.00"    # no-CVM limit (QuickPass 免密免签): above it a signature is asked for, default "1000.00"
daily_max = ""           # the day's sales (approved + stored offline, terminal time zone); "" = no limit (the default)
max_contactless = ""     # per contactless transaction; "" = no limit of its own (the default)
max_keyed = ""           # per keyed transaction; "" = no limit of its own (the default)
max_qr = ""              # per QR-code transaction; "" = no limit of its own (the default)

[offline]
enabled = false            # take card sales offline when the host is unreachable, default false
max_amount = "300.00"      # per offline transaction, default "300.00"
max_total = "5000.00"      # total stored and not yet forwarded, default "5000.00"
max_count = 200            # stored transactions not yet forwarded, default 200
forward_window = "24h"     # warn "forward soon" once the oldest stored sale is this old, default "24h"
hard_stop = "72h"          # no new offline sale past it; a stored sale this old expires (never deleted), default "72h"
max_signin_age = "168h"    # no offline sale when the last sign-in is older, default "168h"

[acquirer]
primary = ""               # "host:port"; "" = in-process stand-in acquirer (development only)
backup = ""                # optional second "host:port"
tpdu = "6000000000"        # 10 hex digits, default "6000000000"
header = "603100000000"    # 12 hex digits, acquirer-assigned, default "603100000000"
connect_timeout = "10s"    # default "10s"
mac = "unionpay-ecb"       # field 64: "unionpay-ecb" (default), "x9.19" or "x9.9"
signin_interval = "24h"    # sign in again after this long, default "24h"
tls = false                # TLS 1.3 to the host, default false
tls_ca = ""                # PEM of the acquirer's CA, the only one trusted (required with tls)
tls_cert = ""              # terminal client certificate PEM (required with tls)
tls_key = ""               # its private key PEM (required with tls)

[log]
level = "info"             # debug | info | warn | error, default "info"
`
