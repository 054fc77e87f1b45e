#!/bin/sh
# Removes the Steward agent installed by install.sh (copied to /opt/steward-agent/lib/uninstall.sh).
# Keeps the machine's key and enrollment in /var/lib/steward-agent unless --purge is given.
# --root DIR removes it from another root.
set -eu

usage() {
  echo "usage: $0 [--purge] [--root DIR]" >&2
  exit 2
}

purge=0
root=
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    --root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
    *) usage ;;
  esac
done

if [ "$(id -u)" != 0 ] && [ -z "$root" ]; then
  echo "uninstall.sh must run as root" >&2
  exit 1
fi

unit=steward-agent.service
if command -v systemctl >/dev/null 2>&1; then
  if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now "$unit" || true
  elif [ -n "$root" ]; then
    systemctl --root="$root" disable "$unit" || true
  else
    systemctl disable "$unit" || true
  fi
fi
rm -f "$root/etc/systemd/system/$unit"
rm -rf "$root/opt/steward-agent"
if [ "$purge" = 1 ]; then
  rm -rf "$root/var/lib/steward-agent" "$root/etc/steward-agent"
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
echo "steward-agent: removed$( [ "$purge" = 1 ] && echo ' (and its state)')" >&2
