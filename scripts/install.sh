#!/usr/bin/env bash
# Installs myostream as a systemd service on a base station: run as root from a checkout in
# which `npm ci` has been run. It checks everything it needs before it touches anything, then
# installs only the runtime (the packed package and its production dependencies), a
# `myostream` command, the udev rules, the user and groups, the configuration and the unit.
# A second run with the same checkout changes nothing.
#
# Every destination can be moved (for packaging, or a test in a throwaway root):
#   DESTDIR         prefix of every path below (default: none); with it, users and groups
#                   are written to $DESTDIR/etc (useradd --prefix) and systemctl is not run
#   PREFIX          /usr/local         the command goes to $PREFIX/bin/myostream
#   APP_DIR         /opt/myostream     the runtime
#   CONF_DIR        /etc/myostream     realtime_config.yaml and env
#   UNIT_DIR        /etc/systemd/system
#   UDEV_DIR        /etc/udev/rules.d
#   STATE_DIR       /var/lib/myostream the service user's home (systemd's StateDirectory=)
#   SERVICE_USER    myostream
#   NODE            the node binary the service runs (default: node on PATH)
#   BUILD_USER      who runs npm (default: the owner of the checkout, root only if it is root's)
set -euo pipefail

die() { echo "install.sh: $*" >&2; exit 2; }

SRC="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=service-paths.sh
. "$(dirname "$0")/service-paths.sh"
DEVICE_GROUPS="spi gpio i2c"

# --- Prerequisites: all checked before anything is written -----------------------------------
[ "$(id -u)" = 0 ] || die "run as root (it creates a system user and installs a unit); nothing was changed"
for tool in npm tar sha256sum install cmp sed mktemp useradd groupadd usermod getent; do
  command -v "$tool" >/dev/null 2>&1 || die "missing prerequisite: $tool; nothing was changed"
done
NODE="${NODE:-$(command -v node || true)}"
[ -n "$NODE" ] && [ -x "$NODE" ] || die "missing prerequisite: node (Node.js >= 20); nothing was changed"
NODE="$(cd "$(dirname "$NODE")" && pwd)/$(basename "$NODE")"
node_version="$("$NODE" -p 'process.versions.node' 2>/dev/null || true)"
[ "${node_version%%.*}" -ge 20 ] 2>/dev/null || die "Node.js >= 20 needed, $NODE is ${node_version:-not runnable}; nothing was changed"
for f in package.json package-lock.json configs/production.yaml systemd/myostream.service udev/60-myostream.rules; do
  [ -f "$SRC/$f" ] || die "$SRC/$f missing: run from a myostream checkout; nothing was changed"
done
[ -x "$SRC/node_modules/.bin/tsc" ] || die "the checkout's build tools are missing: run npm ci in $SRC first; nothing was changed"
for p in "$PREFIX" "$APP_DIR" "$CONF_DIR" "$UNIT_DIR" "$UDEV_DIR" "$STATE_DIR"; do
  case "$p" in /*) ;; *) die "paths must be absolute: $p; nothing was changed" ;; esac
done
case "$DESTDIR$APP_DIR/" in "$SRC"/*) die "APP_DIR $DESTDIR$APP_DIR is inside the checkout; nothing was changed" ;; esac
BUILD_USER="${BUILD_USER:-$(stat -c %U "$SRC")}"
id -u "$BUILD_USER" >/dev/null 2>&1 || die "BUILD_USER $BUILD_USER does not exist; nothing was changed"
as_builder() {
  if [ "$BUILD_USER" = root ]; then "$@"; else setpriv --reuid="$BUILD_USER" --regid="$(id -g "$BUILD_USER")" --init-groups env HOME="$(getent passwd "$BUILD_USER" | cut -d: -f6)" "$@"; fi
}
[ "$BUILD_USER" = root ] || command -v setpriv >/dev/null 2>&1 || die "missing prerequisite: setpriv (util-linux), to build as $BUILD_USER; nothing was changed"

changed=0
note() { echo "install.sh: $*"; }

# Writes $2 from file $1 with mode $3 only when the content or mode differs.
put() {
  local src="$1" dst="$2" mode="$3"
  if [ -f "$dst" ] && cmp -s "$src" "$dst" && [ "$(stat -c %a "$dst")" = "${mode#0}" ]; then return 0; fi
  install -D -m "$mode" "$src" "$dst"
  note "wrote $dst"
  changed=1
}

# --- Build: the package as the checkout's owner, its runtime dependencies in a staging dir ---
[ "$BUILD_USER" = root ] && note "building as root: the checkout $SRC belongs to root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
chown "$BUILD_USER" "$work"
# npm pack runs `prepare` (tsc) and packs only package.json "files": no tests, no refer/.
(cd "$SRC" && as_builder npm pack --silent --pack-destination "$work" >/dev/null) \
  || die "npm pack failed in $SRC (see the npm output above)"
tarball="$(ls "$work"/*.tgz)"
# The stamp names what the runtime is built from; the same stamp means nothing to do.
stamp="$( { tar -xzOf "$tarball" | sha256sum; sha256sum < "$SRC/package-lock.json"; echo "$NODE $node_version"; } | sha256sum | cut -c1-64)"
app="$DESTDIR$APP_DIR"
if [ -f "$app/.install-stamp" ] && [ "$(cat "$app/.install-stamp")" = "$stamp" ]; then
  note "runtime in $app is up to date"
else
  parent="$(dirname "$app")"
  mkdir -p "$parent"
  stage="$(mktemp -d "$parent/.myostream-new.XXXXXX")"
  tar -xzf "$tarball" -C "$stage" --strip-components=1
  cp "$SRC/package-lock.json" "$stage/"
  # `prepare` compiles with the dev tools, which a runtime install does not have (dist/ is packed).
  (cd "$stage" && npm pkg delete scripts.prepare)
  chown -R "$BUILD_USER" "$stage"
  # Only the runtime dependencies; the native addons (unix-dgram, the ADC bindings) build here,
  # against the installed node's own headers where it has them (Debian's nodejs, NodeSource),
  # so node-gyp need not download them.
  node_prefix="$(dirname "$(dirname "$NODE")")"
  if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node.h" ]; then export npm_config_nodedir="$node_prefix"; fi
  # package.json's allowScripts denies onnxruntime-node's CUDA download; an npm older than 11.16
  # ignores allowScripts and reads this variable instead.
  export ONNXRUNTIME_NODE_INSTALL=skip
  if ! (cd "$stage" && as_builder npm ci --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null); then
    rm -rf "$stage"
    die "npm ci --omit=dev failed in the staging copy; nothing was installed"
  fi
  # Type=notify needs the notify addon: without it READY=1 never arrives and systemd kills the start.
  if ! (cd "$stage" && "$NODE" -e "require('unix-dgram')" 2>/dev/null); then
    rm -rf "$stage"
    die "the unix-dgram addon did not build (needs g++, make, python3); nothing was installed"
  fi
  # onnxruntime-node carries its prebuilt libraries for every OS and CPU (~220 MB of the 290):
  # only this machine's are ever loaded.
  plat="$("$NODE" -p process.platform)"; arch="$("$NODE" -p process.arch)"
  for d in "$stage"/node_modules/onnxruntime-node/bin/napi-v*/*/; do
    [ -d "$d" ] || continue
    if [ "$(basename "$d")" != "$plat" ]; then rm -rf "$d"; continue; fi
    for a in "$d"*/; do [ "$(basename "$a")" = "$arch" ] || rm -rf "$a"; done
  done
  echo "$stamp" > "$stage/.install-stamp"
  chown -R root:root "$stage"
  chmod -R go-w,a+rX "$stage"
  chmod 0755 "$stage"
  if [ -e "$app" ]; then mv "$app" "$app.old.$$"; fi
  mv "$stage" "$app"
  rm -rf "$app.old.$$"
  note "installed the runtime in $app"
  changed=1
fi

# --- The command on PATH ----------------------------------------------------------------------
# exec keeps the PID, so node is the unit's main process (NotifyAccess=main).
printf '#!/bin/sh\nexec %s %s/dist/src/main.js "$@"\n' "$NODE" "$APP_DIR" > "$work/myostream"
put "$work/myostream" "$DESTDIR$PREFIX/bin/myostream" 0755

# --- Groups and the service user --------------------------------------------------------------
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR/etc"
  have_group() { grep -q "^$1:" "$DESTDIR/etc/group" 2>/dev/null; }
  have_user() { grep -q "^$1:" "$DESTDIR/etc/passwd" 2>/dev/null; }
  in_group() { grep -Eq "^$1:[^:]*:[^:]*:(.*,)?$2(,|$)" "$DESTDIR/etc/group"; }
  shadow_opts=(--prefix "$DESTDIR")
else
  have_group() { getent group "$1" >/dev/null; }
  have_user() { getent passwd "$1" >/dev/null; }
  in_group() { id -nG "$2" | tr ' ' '\n' | grep -qx "$1"; }
  shadow_opts=()
fi
for g in $DEVICE_GROUPS; do
  if ! have_group "$g"; then groupadd "${shadow_opts[@]}" --system "$g"; note "created group $g"; changed=1; fi
done
if ! have_user "$SERVICE_USER"; then
  useradd "${shadow_opts[@]}" --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  note "created user $SERVICE_USER"
  changed=1
fi
for g in $DEVICE_GROUPS; do
  if ! in_group "$g" "$SERVICE_USER"; then usermod "${shadow_opts[@]}" -aG "$g" "$SERVICE_USER"; note "added $SERVICE_USER to $g"; changed=1; fi
done

# --- udev rules, unit ---------------------------------------------------------------------------
put "$SRC/udev/60-myostream.rules" "$DESTDIR$UDEV_DIR/60-myostream.rules" 0644
sed -e "s#/usr/local/bin/myostream#$PREFIX/bin/myostream#g" \
    -e "s#/opt/myostream#$APP_DIR#g" \
    -e "s#/etc/myostream#$CONF_DIR#g" \
    -e "s#^WorkingDirectory=/var/lib/myostream#WorkingDirectory=$STATE_DIR#" \
    -e "s#^User=myostream#User=$SERVICE_USER#" -e "s#^Group=myostream#Group=$SERVICE_USER#" \
    "$SRC/systemd/myostream.service" > "$work/myostream.service"
put "$work/myostream.service" "$DESTDIR$UNIT_DIR/myostream.service" 0644

# --- Configuration: never over an edited one ----------------------------------------------------
conf="$DESTDIR$CONF_DIR/realtime_config.yaml"
# The sha256 of the file as last installed: a file that still has it was not edited.
installed_sum="$DESTDIR$CONF_DIR/.realtime_config.yaml.installed"
new_sum="$(sha256sum < "$SRC/configs/production.yaml" | cut -c1-64)"
if [ ! -f "$conf" ]; then
  put "$SRC/configs/production.yaml" "$conf" 0644
  echo "$new_sum" > "$installed_sum"
elif [ "$(sha256sum < "$conf" | cut -c1-64)" = "$(cat "$installed_sum" 2>/dev/null)" ]; then
  put "$SRC/configs/production.yaml" "$conf" 0644
  [ "$(cat "$installed_sum")" = "$new_sum" ] || echo "$new_sum" > "$installed_sum"
else
  if [ "$(sha256sum < "$conf" | cut -c1-64)" != "$new_sum" ]; then
    put "$SRC/configs/production.yaml" "$conf.dist" 0644
    note "kept the edited $conf; the new default is $conf.dist"
  fi
fi
if [ ! -f "$DESTDIR$CONF_DIR/env" ]; then
  # Secrets for the service (EnvironmentFile=): readable by root and the service's group only.
  printf '# Environment of the myostream service (systemd EnvironmentFile=). Keep secrets here, not\n# in realtime_config.yaml, which is copied into every run folder.\n# MYOSTREAM_MQTT_PASSWORD=\n' > "$work/env"
  install -m 0640 -g "$(if [ -n "$DESTDIR" ]; then grep "^$SERVICE_USER:" "$DESTDIR/etc/group" | cut -d: -f3; else echo "$SERVICE_USER"; fi)" "$work/env" "$DESTDIR$CONF_DIR/env"
  note "wrote $DESTDIR$CONF_DIR/env (set MYOSTREAM_MQTT_PASSWORD there)"
  changed=1
fi

# --- systemd and udev, where they run -----------------------------------------------------------
if [ -n "$DESTDIR" ]; then
  note "DESTDIR set: systemctl and udevadm not run"
elif [ ! -d /run/systemd/system ]; then
  note "systemd is not PID 1 here: systemctl not run; on the target: systemctl daemon-reload && systemctl enable --now myostream"
else
  if [ "$changed" = 1 ]; then
    systemctl daemon-reload
    if [ -e /run/udev/control ]; then udevadm control --reload && udevadm trigger --action=add --subsystem-match=spidev --subsystem-match=gpio --subsystem-match=i2c-dev; fi
  fi
  systemctl is-enabled --quiet myostream 2>/dev/null || systemctl enable --quiet myostream
  if systemctl is-active --quiet myostream; then
    [ "$changed" = 1 ] && systemctl restart myostream && note "restarted myostream"
  else
    note "enabled; start it with: systemctl start myostream (after setting MYOSTREAM_MQTT_PASSWORD in $CONF_DIR/env)"
  fi
fi
[ "$changed" = 1 ] || note "nothing changed"
note "artifacts under $STATE_DIR/runs; logs: journalctl -u myostream; status: myostream status"
note "who may command this node is the site broker's ACL: $APP_DIR/systemd/mosquitto/ has one with node, operator and subscriber roles (docs/mqtt.md, \"Who may command a node\")"
