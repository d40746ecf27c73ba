#!/usr/bin/env bash
# Removes what scripts/install.sh installed: the unit, the command, the udev rules and the
# runtime. The configuration (with its secrets), the run artifacts and the service user stay
# unless --purge is given. Takes the same path variables as install.sh (DESTDIR, PREFIX,
# APP_DIR, CONF_DIR, UNIT_DIR, UDEV_DIR, STATE_DIR, SERVICE_USER). Running it twice is harmless.
set -euo pipefail

die() { echo "uninstall.sh: $*" >&2; exit 2; }
purge=0
for a in "$@"; do
  case "$a" in --purge) purge=1 ;; *) die "unknown argument $a (only --purge)" ;; esac
done
# shellcheck source=service-paths.sh
. "$(dirname "$0")/service-paths.sh"
[ "$(id -u)" = 0 ] || die "run as root; nothing was changed"
note() { echo "uninstall.sh: $*"; }
gone() { if [ -e "$1" ] || [ -L "$1" ]; then rm -rf -- "$1"; note "removed $1"; fi; }

systemd_here=0
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then systemd_here=1; fi
if [ "$systemd_here" = 1 ]; then
  systemctl disable --now --quiet myostream 2>/dev/null || true
else
  note "systemd is not PID 1 here (or DESTDIR is set): systemctl not run"
fi
gone "$DESTDIR$UNIT_DIR/myostream.service"
gone "$DESTDIR$PREFIX/bin/myostream"
gone "$DESTDIR$UDEV_DIR/60-myostream.rules"
gone "$DESTDIR$APP_DIR"
if [ "$systemd_here" = 1 ]; then
  systemctl daemon-reload
  [ -e /run/udev/control ] && udevadm control --reload || true
fi
if [ "$purge" = 1 ]; then
  gone "$DESTDIR$CONF_DIR"
  gone "$DESTDIR$STATE_DIR"
  gone "$DESTDIR$LOGS_DIR"
  # The device groups (spi, gpio, i2c) stay: other users of the buses may be in them.
  if [ -n "$DESTDIR" ]; then
    if grep -q "^$SERVICE_USER:" "$DESTDIR/etc/passwd" 2>/dev/null; then userdel --prefix "$DESTDIR" "$SERVICE_USER"; note "removed user $SERVICE_USER"; fi
  elif getent passwd "$SERVICE_USER" >/dev/null; then
    userdel "$SERVICE_USER"
    note "removed user $SERVICE_USER"
  fi
else
  note "kept $DESTDIR$CONF_DIR, $DESTDIR$STATE_DIR and user $SERVICE_USER (--purge removes them)"
fi
