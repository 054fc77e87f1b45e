#!/bin/sh
# Installs the Steward agent .deb beside this script, enrolled with the enroll.env beside it: the bundle the server
# hands out for one site (GET /api/v1/sites/:id/installers/linux-deb), shipped there as install.sh. Run as root:
#   sudo ./install.sh
# enroll.env is copied to /etc/steward-agent/enroll.env (mode 0600), where the package's postinst reads it (never
# executes it) and deletes it once used; the copy here is deleted after a successful install. If enrollment fails,
# dpkg leaves the package unconfigured and both files stay: fix the cause, then `dpkg --configure -a`.
# --root DIR installs into another root (dpkg --root with chrootless maintainer scripts), as the tests do.
set -eu

log() {
  printf 'steward-agent: %s\n' "$*" >&2
}

usage() {
  echo "usage: $0 [--root DIR]" >&2
  exit 2
}

root=
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done

if [ "$(id -u)" != 0 ] && [ -z "$root" ]; then
  log "install.sh must run as root"
  exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
set -- "$here"/steward-agent_*_amd64.deb
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  log "expected exactly one steward-agent_*_amd64.deb beside install.sh"
  exit 1
fi
deb=$1

if [ -f "$here/enroll.env" ]; then
  mkdir -p "$root/etc/steward-agent"
  # Created 0600 (umask) and renamed into place: the token is never readable by others, not even briefly.
  (umask 077 && cp "$here/enroll.env" "$root/etc/steward-agent/enroll.env.new")
  chmod 0600 "$root/etc/steward-agent/enroll.env.new"
  mv -f "$root/etc/steward-agent/enroll.env.new" "$root/etc/steward-agent/enroll.env"
fi

if [ -n "$root" ]; then
  dpkg --root="$root" --force-script-chrootless -i "$deb"
else
  dpkg -i "$deb"
fi
rm -f "$here/enroll.env"
log "installed $(basename "$deb")"
