#!/usr/bin/env bash
# Installs myostream as a systemd service on a base station (run as root from a checkout).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dest=/opt/myostream
id myostream >/dev/null 2>&1 || useradd --system --home-dir /var/lib/myostream --shell /usr/sbin/nologin myostream
for g in spi gpio i2c; do getent group "$g" >/dev/null || groupadd --system "$g"; done
mkdir -p "$dest" /etc/myostream
(cd "$src" && npm ci && npm run build)
rsync -a --delete --exclude .git --exclude artifacts "$src"/ "$dest"/
[ -f /etc/myostream/realtime_config.yaml ] || install -m 0644 "$src/configs/realtime_config.yaml" /etc/myostream/realtime_config.yaml
install -m 0644 "$src/systemd/myostream.service" /etc/systemd/system/myostream.service
systemctl daemon-reload
systemctl enable --now myostream
echo "installed; artifacts under /var/lib/myostream/runs, logs: journalctl -u myostream"
