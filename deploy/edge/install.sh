#!/usr/bin/env bash
# Install (or upgrade) the Vivant edge agent on a Raspberry Pi (3, 4, 5, Zero 2 W) running
# Raspberry Pi OS bookworm, so it starts at boot and runs unattended:
#
#   sudo deploy/edge/install.sh --config firmware-config/nodes/ekilibre/entree.yaml
#
# What it does, idempotently:
#   1. Debian packages: Python venv, BlueZ, pcscd, and the hardware bindings that would otherwise
#      build from C sources (python3-lgpio for GPIO on every Pi including the 5, python3-evdev,
#      python3-pyscard), used through a venv that sees the system site packages.
#   2. A system user `vivant` in the gpio, bluetooth, input, i2c, dialout and spi groups.
#   3. /opt/vivant/venv with vivant[edge] (pinned by constraints.txt) from this source tree.
#   4. /etc/vivant/edge.yaml (from --config; kept if it exists) and /etc/vivant/edge.env (secrets,
#      root:vivant 0640; never overwritten).
#   5. I2C and the UART enabled through raspi-config when the config uses them.
#   6. The systemd unit (Type=notify, watchdog, restart on failure, logs in the journal); enabled,
#      and started once `vivant edge check-config` accepts the file with its secrets.
#
# Options:
#   --config FILE     node configuration to install as /etc/vivant/edge.yaml
#   --force-config    replace an existing /etc/vivant/edge.yaml
#   --ble-passive     run bluetoothd with experimental features (passive BLE scanning)
#   --no-start        install and enable, but do not start
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PREFIX=/opt/vivant
ETC=/etc/vivant
UNIT=/etc/systemd/system/vivant-edge.service
USER_NAME=vivant
GROUPS_WANTED=(gpio bluetooth input i2c dialout spi)

CONFIG=""
FORCE_CONFIG=0
BLE_PASSIVE=0
START=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    --force-config) FORCE_CONFIG=1; shift ;;
    --ble-passive) BLE_PASSIVE=1; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 …)"
[ -f "$SRC/pyproject.toml" ] || die "run from a Vivant source tree ($SRC has no pyproject.toml)"
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "no such config file: $CONFIG"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Vivant needs Python >= 3.11 (Raspberry Pi OS bookworm has 3.11)"

apt_available() { apt-cache show "$1" >/dev/null 2>&1; }

say "Debian packages"
apt-get update -qq
packages=(python3-venv python3-pip bluez pcscd i2c-tools)
for optional in python3-lgpio python3-evdev python3-pyscard; do
  if apt_available "$optional"; then packages+=("$optional"); else say "skipping $optional (not in this distribution)"; fi
done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

say "user $USER_NAME"
if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/vivant --no-create-home --shell /usr/sbin/nologin \
    --comment "Vivant edge agent" "$USER_NAME"
fi
for group in "${GROUPS_WANTED[@]}"; do
  getent group "$group" >/dev/null || groupadd --system "$group"
  usermod -a -G "$group" "$USER_NAME"
done

say "virtual environment in $PREFIX/venv"
install -d -m 0755 "$PREFIX"
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
"$PREFIX/venv/bin/python" -m pip install -q -c "$SRC/constraints.txt" "$SRC[edge]"

say "configuration in $ETC"
install -d -m 0750 -o root -g "$USER_NAME" "$ETC"
if [ -n "$CONFIG" ] && { [ ! -f "$ETC/edge.yaml" ] || [ "$FORCE_CONFIG" -eq 1 ]; }; then
  install -m 0640 -o root -g "$USER_NAME" "$CONFIG" "$ETC/edge.yaml"
fi
[ -f "$ETC/edge.yaml" ] || die "no $ETC/edge.yaml yet: pass --config FILE (see firmware-config/nodes/)"
if [ ! -f "$ETC/edge.env" ]; then
  install -m 0640 -o root -g "$USER_NAME" "$SRC/deploy/edge/edge.env.example" "$ETC/edge.env"
  say "fill in the secrets in $ETC/edge.env"
fi

if command -v raspi-config >/dev/null 2>&1; then
  if grep -Eq 'kind: *(scd4x|bme280)|interface: *i2c|kind: *pn532' "$ETC/edge.yaml"; then
    say "enabling I2C"
    raspi-config nonint do_i2c 0
  fi
  if grep -Eq 'port: */dev/(serial0|ttyAMA0|ttyS0)|interface: *uart' "$ETC/edge.yaml"; then
    say "enabling the UART without a serial console"
    raspi-config nonint do_serial_hw 0
    raspi-config nonint do_serial_cons 1
  fi
fi

if [ "$BLE_PASSIVE" -eq 1 ]; then
  say "bluetoothd with experimental features (passive scanning)"
  install -d /etc/systemd/system/bluetooth.service.d
  cat > /etc/systemd/system/bluetooth.service.d/vivant-passive.conf <<'CONF'
[Service]
ExecStart=
ExecStart=/usr/libexec/bluetooth/bluetoothd --experimental
CONF
  systemctl daemon-reload
  systemctl restart bluetooth
fi

say "systemd unit"
install -m 0644 "$SRC/deploy/edge/vivant-edge.service" "$UNIT"
systemctl daemon-reload
systemctl enable vivant-edge.service >/dev/null

check() {
  # As the service will run it: its user, its secrets.
  runuser -u "$USER_NAME" -- env -i PATH=/usr/bin:/bin \
    bash -c "set -a; . '$ETC/edge.env'; exec '$PREFIX/venv/bin/vivant' edge check-config '$ETC/edge.yaml'"
}
if ! check; then
  say "the configuration is not valid yet (above): fix it, then: systemctl start vivant-edge"
  exit 1
fi
if [ "$START" -eq 1 ]; then
  systemctl restart vivant-edge.service
  say "started: systemctl status vivant-edge; logs: journalctl -u vivant-edge -f"
else
  say "installed and enabled; start with: systemctl start vivant-edge"
fi
