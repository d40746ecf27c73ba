# Where the service lives: read by install.sh and uninstall.sh so the two always agree. Every
# value can be set in the environment (see install.sh's head for what each one is).
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr/local}"
APP_DIR="${APP_DIR:-/opt/myostream}"
CONF_DIR="${CONF_DIR:-/etc/myostream}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
UDEV_DIR="${UDEV_DIR:-/etc/udev/rules.d}"
STATE_DIR="${STATE_DIR:-/var/lib/myostream}"
LOGS_DIR="${LOGS_DIR:-/var/log/myostream}"
SERVICE_USER="${SERVICE_USER:-myostream}"
