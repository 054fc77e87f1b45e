#!/bin/sh
# Installs the Steward agent from this unpacked tarball on a systemd Linux without dpkg (RHEL, SUSE, Arch...).
# Same layout as the .deb: /opt/steward-agent, state in /var/lib/steward-agent (0700), the unit in
# /etc/systemd/system. Run as root:
#   STEWARD_SERVER_URL=https://steward.example.com STEWARD_ENROLLMENT_TOKEN=stw1... ./install.sh
# or put those settings in enroll.env beside this script (as in the tarball the server hands out for a site) or in
# /etc/steward-agent/enroll.env: KEY=VALUE lines, mode 0600, never executed, removed once used. The environment
# wins over enroll.env beside this script, which wins over /etc's.
# Running it again upgrades in place and keeps the enrollment. --root DIR installs into another root.
set -eu

usage() {
  echo "usage: $0 [--root DIR]" >&2
  exit 2
}

STEWARD_ROOT=
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || usage; STEWARD_ROOT=${2%/}; shift 2 ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=steward-install.sh
. "$here/lib/steward-install.sh"

if [ "$(id -u)" != 0 ] && [ -z "$STEWARD_ROOT" ]; then
  steward_log "install.sh must run as root"
  exit 1
fi
[ -x "$here/steward-agent" ] || { steward_log "$here/steward-agent is missing: run install.sh from the unpacked tarball"; exit 1; }

opt=$STEWARD_ROOT/opt/steward-agent
# Copy next to the old tree and swap, so a failed copy never leaves half an agent behind.
rm -rf "$opt.new"
mkdir -p "$opt.new/lib"
cp -R "$here/steward-agent" "$here/node_modules" "$opt.new/"
cp "$here/lib/steward-install.sh" "$here/uninstall.sh" "$opt.new/lib/"
chmod -R u=rwX,go=rX "$opt.new"
chmod 0755 "$opt.new/steward-agent" "$opt.new/lib/uninstall.sh"
rm -rf "$opt.old"
[ ! -e "$opt" ] || mv "$opt" "$opt.old"
mv "$opt.new" "$opt"
rm -rf "$opt.old"

mkdir -p "$STEWARD_ROOT/etc/systemd/system"
cp "$here/steward-agent.service" "$STEWARD_ROOT/etc/systemd/system/$STEWARD_UNIT"
chmod 0644 "$STEWARD_ROOT/etc/systemd/system/$STEWARD_UNIT"

steward_prepare_dirs
steward_read_enroll_file "$here/enroll.env"
steward_enroll_if_requested
# Used, or not needed (already enrolled): the token must not linger. A failed enrollment stopped above and kept it.
rm -f "$here/enroll.env"
steward_enable_service
steward_log "installed in $opt"
