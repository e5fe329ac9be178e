#!/usr/bin/env bash
# Installs jmirror as a systemd service, from this source tree.
#   sudo bash contrib/systemd/install.sh     system service: user jmirror (sysusers.d), the binary in
#                                            /usr/local/bin, config /etc/jmirror/config.toml (a template
#                                            if absent), the mirror in /var/lib/jmirror
#   bash contrib/systemd/install.sh --user   for you: ~/.local/bin/jmirror and a `systemctl --user`
#                                            unit for ~/.config/jmirror/config.toml
# Then: `systemctl [--user] enable --now jmirror` (or jmirror-sync.timer for a nightly run instead).
# Re-running upgrades the binary and units and leaves the config alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-system}
if [ ! -x .build/release/jmirror ] || [ -n "$(find Sources Package.swift -newer .build/release/jmirror -print -quit)" ]; then
  swift build -c release --static-swift-stdlib
fi
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/jmirror

if [ "$mode" = --user ]; then
  install -Dm 755 "$bin" "$HOME/.local/bin/jmirror"
  config=${XDG_CONFIG_HOME:-$HOME/.config}/jmirror/config.toml
  if [ ! -f "$config" ]; then
    install -Dm 600 contrib/config.example.toml "$config"
    echo "wrote a template: edit $config" >&2
  fi
  # The unit may write only the mirror: read its path from the config (~ and $HOME expanded).
  mirror=$(python3 -c 'import os, sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["mirror"]["path"]
p = os.path.expanduser(p.replace("${HOME}", "~").replace("$HOME", "~"))
print(p if p.startswith("/") else os.path.join(os.path.dirname(sys.argv[1]), p))' "$config")
  mkdir -p "$mirror"
  unit=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/jmirror.service
  install -Dm 644 contrib/systemd/user/jmirror.service "$unit"
  sed -i "s|^ReadWritePaths=.*|ReadWritePaths=$mirror|" "$unit"
  systemctl --user daemon-reload 2>/dev/null || true
  echo "installed: ~/.local/bin/jmirror, $unit (mirror $mirror). Start: systemctl --user enable --now jmirror" >&2
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root for the system service, or with --user" >&2; exit 64; }
install -Dm 755 "$bin" /usr/local/bin/jmirror
install -Dm 644 contrib/systemd/jmirror.sysusers /usr/lib/sysusers.d/jmirror.conf
systemd-sysusers /usr/lib/sysusers.d/jmirror.conf
install -d -m 750 -o root -g jmirror /etc/jmirror
install -d -m 700 -o jmirror -g jmirror /var/lib/jmirror
if [ ! -f /etc/jmirror/config.toml ]; then
  sed 's|^path = .*|path = "/var/lib/jmirror"|' contrib/config.example.toml > /etc/jmirror/config.toml
  chown jmirror:jmirror /etc/jmirror/config.toml; chmod 600 /etc/jmirror/config.toml
  echo "wrote a template: edit /etc/jmirror/config.toml (password files next to it, owned by jmirror, mode 600)" >&2
fi
for u in jmirror.service jmirror-sync.service jmirror-sync.timer; do install -m 644 "contrib/systemd/$u" /etc/systemd/system/; done
install -Dm 644 README.md /usr/local/share/doc/jmirror/README.md
systemctl daemon-reload 2>/dev/null || true
echo "installed. Start: systemctl enable --now jmirror   (status: systemctl status jmirror; sudo -u jmirror jmirror --config /etc/jmirror/config.toml status)" >&2
