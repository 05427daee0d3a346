#!/usr/bin/env bash
# Turn a Raspberry Pi running Raspberry Pi OS (Bookworm, desktop) into a Vivant lobby screen:
#
#   sudo deploy/kiosk/install.sh --url http://vivant.local:8080/screens/ekilibre/hall
#
# What it does, idempotently:
#   1. Debian packages: Chromium, curl (the launcher waits for the hub), unclutter (X11 cursor).
#   2. /etc/vivant/kiosk.env with the lobby page's address (kept unless --url is given).
#   3. /usr/local/bin/vivant-kiosk (the launcher) and vivant-kiosk-session (the autostart hook).
#   4. Systemd user units for the kiosk user: vivant-kiosk.service (Restart=always) and a timer
#      that restarts the browser every night at 4:00.
#   5. Desktop autologin for the kiosk user (raspi-config, and LightDM's autologin-user).
#   6. Screen blanking off (raspi-config; xset for X11 sessions).
#   7. Autostart for the three Bookworm desktops: labwc (Wayland, the default since late 2024),
#      wayfire (Wayland, earlier Bookworm) and LXDE (X11).
#   8. The hardware watchdog through systemd: a hung Pi reboots by itself.
# After a power cut the Pi boots, logs in, the autostart starts the service, the launcher waits
# for the hub and opens the page; Chromium's "restore pages?" bubble is suppressed.
#
# Options:
#   --url URL         the lobby page: http(s)://<hub>/screens/<site>/<screen>
#   --user NAME       the desktop user that shows the page (default: the user running sudo)
#   --no-watchdog     leave systemd's hardware watchdog alone
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ETC=/etc/vivant
BIN=/usr/local/bin
URL=""
KIOSK_USER="${SUDO_USER:-}"
WATCHDOG=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL="${2:?--url needs an address}"; shift 2 ;;
    --user) KIOSK_USER="${2:?--user needs a name}"; shift 2 ;;
    --no-watchdog) WATCHDOG=0; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 …)"
[ -n "$KIOSK_USER" ] || die "which desktop user shows the page? pass --user NAME"
id "$KIOSK_USER" >/dev/null 2>&1 || die "no user $KIOSK_USER"
if [ -n "$URL" ]; then
  [[ "$URL" =~ ^https?://[^[:space:]/]+(/[^[:space:]]*)?$ ]] || die "--url must look like http://host:8080/screens/site/screen"
elif [ ! -f "$ETC/kiosk.env" ]; then
  die "pass --url http://<hub>:8080/screens/<site>/<screen> (the lobby page)"
fi
HOME_DIR="$(getent passwd "$KIOSK_USER" | cut -d: -f6)"
USER_GROUP="$(id -gn "$KIOSK_USER")"

say "Debian packages"
apt-get update -qq
packages=(curl unclutter)
if apt-cache show chromium-browser >/dev/null 2>&1; then packages+=(chromium-browser); else packages+=(chromium); fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

say "settings in $ETC/kiosk.env"
install -d -m 0755 "$ETC"
if [ -n "$URL" ]; then
  { grep -v '^VIVANT_KIOSK_URL=' "$SRC/kiosk.env.example"; echo "VIVANT_KIOSK_URL=$URL"; } > "$ETC/kiosk.env.new"
  install -m 0644 "$ETC/kiosk.env.new" "$ETC/kiosk.env"
  rm -f "$ETC/kiosk.env.new"
fi

say "launcher in $BIN"
install -m 0755 "$SRC/vivant-kiosk" "$BIN/vivant-kiosk"
install -m 0755 "$SRC/vivant-kiosk-session" "$BIN/vivant-kiosk-session"

say "systemd user units for $KIOSK_USER"
as_user() { runuser -u "$KIOSK_USER" -- "$@"; }
UNITS="$HOME_DIR/.config/systemd/user"
as_user mkdir -p "$UNITS/timers.target.wants"
for unit in vivant-kiosk.service vivant-kiosk-restart.service vivant-kiosk-restart.timer; do
  install -m 0644 -o "$KIOSK_USER" -g "$USER_GROUP" "$SRC/$unit" "$UNITS/$unit"
done
# Enabled by hand: the user's systemd may not run while we install (no login yet).
as_user ln -sf ../vivant-kiosk-restart.timer "$UNITS/timers.target.wants/vivant-kiosk-restart.timer"

say "desktop autologin for $KIOSK_USER, screen blanking off"
if command -v raspi-config >/dev/null 2>&1; then
  raspi-config nonint do_boot_behaviour B4   # desktop, logged in automatically
  raspi-config nonint do_blanking 1          # 1 = blanking disabled
fi
if [ -d /etc/lightdm ]; then
  install -d /etc/lightdm/lightdm.conf.d
  printf '[Seat:*]\nautologin-user=%s\n' "$KIOSK_USER" > /etc/lightdm/lightdm.conf.d/50-vivant-kiosk.conf
fi

say "autostart (labwc, wayfire, LXDE)"
add_line() {  # add_line FILE LINE: append LINE to FILE (as the user) unless it is there
  as_user mkdir -p "$(dirname "$1")"
  as_user touch "$1"
  grep -qxF "$2" "$1" || printf '%s\n' "$2" | as_user tee -a "$1" >/dev/null
}
# labwc runs the user's autostart instead of the system one: no panel, no desktop, no idle
# blanking; only the lobby page.
add_line "$HOME_DIR/.config/labwc/autostart" "$BIN/vivant-kiosk-session &"
WAYFIRE="$HOME_DIR/.config/wayfire.ini"
as_user touch "$WAYFIRE"
if ! grep -q '^vivant_kiosk' "$WAYFIRE"; then
  if grep -q '^\[autostart\]' "$WAYFIRE"; then
    sed -i "/^\[autostart\]/a vivant_kiosk = $BIN/vivant-kiosk-session" "$WAYFIRE"
  else
    printf '\n[autostart]\nvivant_kiosk = %s\n' "$BIN/vivant-kiosk-session" | as_user tee -a "$WAYFIRE" >/dev/null
  fi
fi
if ! grep -q '^\[idle\]' "$WAYFIRE"; then
  printf '\n[idle]\ndpms_timeout = -1\nscreensaver_timeout = -1\n' | as_user tee -a "$WAYFIRE" >/dev/null
fi
LXDE="$HOME_DIR/.config/lxsession/LXDE-pi/autostart"
for line in "@xset s off" "@xset -dpms" "@xset s noblank" "@unclutter -idle 1" "@$BIN/vivant-kiosk-session"; do
  add_line "$LXDE" "$line"
done

if [ "$WATCHDOG" -eq 1 ]; then
  say "hardware watchdog (a hung Pi reboots)"
  install -d /etc/systemd/system.conf.d
  install -m 0644 "$SRC/watchdog.conf" /etc/systemd/system.conf.d/vivant-kiosk-watchdog.conf
fi

say "done: reboot to start the lobby screen (sudo reboot)"
say "later, as $KIOSK_USER: systemctl --user status vivant-kiosk; journalctl --user -u vivant-kiosk"
