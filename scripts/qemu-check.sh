#!/usr/bin/env bash
# Runs the cross-compiled device binaries and the store/core package tests
# under qemu-user, as the device's CPU would (no binfmt registration needed:
# the emulator is named explicitly).
set -euo pipefail
BIN=${1:-bin}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/check.toml" <<'TOML'
[terminal]
tid = "12345678"
mid = "123456789012345"
merchant_name = "qemu check"
TOML
for pair in "arm64:qemu-aarch64-static" "armv7:qemu-arm-static"; do
  arch=${pair%%:*}; emu=${pair##*:}
  echo "== $arch: posagent version"
  "$emu" "$BIN/posagent-linux-$arch" version
  echo "== $arch: posagent config check"
  "$emu" "$BIN/posagent-linux-$arch" config check "$tmp/check.toml"
done
echo "== arm64: store and core tests under qemu-aarch64-static"
GOARCH=arm64 POSAGENT_TEST_EXEC=qemu-aarch64-static go test -count=1 -timeout 15m -exec qemu-aarch64-static ./store/... ./core/...
echo "== armv7: store and core tests under qemu-arm-static"
GOARCH=arm GOARM=7 POSAGENT_TEST_EXEC=qemu-arm-static go test -count=1 -timeout 15m -exec qemu-arm-static ./store/... ./core/...
echo "qemu: arm64 and armv7 checks passed"
