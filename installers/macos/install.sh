#!/bin/sh
# Installs the Steward agent on macOS from this unpacked tarball. Run as root:
#   sudo STEWARD_SERVER_URL=https://steward.example.com STEWARD_ENROLLMENT_TOKEN=stw1... ./install.sh
# (sudo drops the environment unless the variables are given after `sudo` like this), or put those settings in
# enroll.env beside this script (KEY=VALUE lines; never executed; removed once used).
# Copies to /usr/local/steward-agent, clears the download quarantine, ad-hoc signs the executable and node-pty's
# native files (postject leaves the executable unsigned and arm64 Macs refuse unsigned code), keeps state in
# "/Library/Application Support/Steward/agent" (0700), enrolls, and loads the LaunchDaemon com.steward.agent.
# Running it again upgrades in place and keeps the enrollment.
#
# NOT TESTED ON A MAC: the build and CI run on Linux, where xattr, codesign and launchctl do not exist. CI checks
# this script with `sh -n` and shellcheck and checks the tarball's layout and the plist; nothing more.
set -eu

LABEL=com.steward.agent
PREFIX=/usr/local/steward-agent
BIN=$PREFIX/steward-agent
STATE_DIR="/Library/Application Support/Steward/agent"
LOG_DIR=/Library/Logs/Steward
PLIST=/Library/LaunchDaemons/$LABEL.plist

log() {
  printf 'steward-agent: %s\n' "$*" >&2
}

[ "$(uname -s)" = Darwin ] || { log "install.sh is for macOS; use the Linux packages elsewhere"; exit 1; }
[ "$(id -u)" = 0 ] || { log "install.sh must run as root (sudo)"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/steward-agent" ] || { log "$here/steward-agent is missing: run install.sh from the unpacked tarball"; exit 1; }

# Reads KEY=VALUE lines of enroll.env without executing it. Values from the environment win.
read_enroll_file() {
  file=$here/enroll.env
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    key=${line%%=*}
    value=${line#*=}
    case "$value" in
      \"*\") value=${value#\"}; value=${value%\"} ;;
      \'*\') value=${value#\'}; value=${value%\'} ;;
    esac
    case "$key" in
      STEWARD_SERVER_URL) [ -n "${STEWARD_SERVER_URL:-}" ] || STEWARD_SERVER_URL=$value ;;
      STEWARD_ENROLLMENT_TOKEN) [ -n "${STEWARD_ENROLLMENT_TOKEN:-}" ] || STEWARD_ENROLLMENT_TOKEN=$value ;;
      STEWARD_CA_FILE) [ -n "${STEWARD_CA_FILE:-}" ] || STEWARD_CA_FILE=$value ;;
      STEWARD_PIN_CERT) [ -n "${STEWARD_PIN_CERT:-}" ] || STEWARD_PIN_CERT=$value ;;
      STEWARD_ALLOW_INSECURE) [ -n "${STEWARD_ALLOW_INSECURE:-}" ] || STEWARD_ALLOW_INSECURE=$value ;;
      STEWARD_REENROLL) [ -n "${STEWARD_REENROLL:-}" ] || STEWARD_REENROLL=$value ;;
      *) log "warning: ignoring unknown setting '$key' in $file" ;;
    esac
  done <"$file"
}

is_enrolled() {
  [ -f "$STATE_DIR/agent.json" ]
}

# Enrolls when a server URL and a token were given. An enrolled machine is left alone unless STEWARD_REENROLL=1.
# The token reaches the agent through its environment, never its argv (ps shows argv to every local user).
enroll_if_requested() {
  read_enroll_file
  if [ -z "${STEWARD_SERVER_URL:-}" ] && [ -z "${STEWARD_ENROLLMENT_TOKEN:-}" ]; then
    return 0
  fi
  if [ -z "${STEWARD_SERVER_URL:-}" ] || [ -z "${STEWARD_ENROLLMENT_TOKEN:-}" ]; then
    log "enrollment needs both STEWARD_SERVER_URL and STEWARD_ENROLLMENT_TOKEN"
    return 1
  fi
  if is_enrolled && [ "${STEWARD_REENROLL:-0}" != 1 ]; then
    log "already enrolled; not enrolling again (set STEWARD_REENROLL=1 to move this machine)"
    rm -f "$here/enroll.env"
    return 0
  fi
  set -- enroll --server "$STEWARD_SERVER_URL" --state-dir "$STATE_DIR"
  [ -z "${STEWARD_CA_FILE:-}" ] || set -- "$@" --ca-file "$STEWARD_CA_FILE"
  [ -z "${STEWARD_PIN_CERT:-}" ] || set -- "$@" --pin-cert "$STEWARD_PIN_CERT"
  [ "${STEWARD_ALLOW_INSECURE:-0}" != 1 ] || set -- "$@" --allow-insecure
  if STEWARD_ENROLLMENT_TOKEN=$STEWARD_ENROLLMENT_TOKEN "$BIN" "$@"; then
    rm -f "$here/enroll.env"
    return 0
  fi
  log "enrollment with $STEWARD_SERVER_URL failed; fix the cause and run install.sh again"
  return 1
}

# Stop a running agent first: launchd would otherwise keep executing the old, replaced files.
launchctl bootout "system/$LABEL" 2>/dev/null || true

# Copy next to the old tree and swap, so a failed copy never leaves half an agent behind.
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new"
cp -R "$here/steward-agent" "$here/node_modules" "$here/uninstall.sh" "$PREFIX.new/"
chown -R root:wheel "$PREFIX.new"
chmod -R u=rwX,go=rX "$PREFIX.new"
chmod 0755 "$PREFIX.new/steward-agent" "$PREFIX.new/uninstall.sh"
# A browser-downloaded tarball marks every file as quarantined; Gatekeeper would then block the unsigned code.
xattr -dr com.apple.quarantine "$PREFIX.new" 2>/dev/null || true
# Ad-hoc signatures: enough for arm64's "code must be signed" rule, not a Developer ID (see the README).
codesign --force --sign - "$PREFIX.new/steward-agent"
find "$PREFIX.new/node_modules/node-pty" -type f \( -name pty.node -o -name spawn-helper \) -exec codesign --force --sign - {} \;
rm -rf "$PREFIX.old"
[ ! -e "$PREFIX" ] || mv "$PREFIX" "$PREFIX.old"
mv "$PREFIX.new" "$PREFIX"
rm -rf "$PREFIX.old"

mkdir -p "$STATE_DIR" "$LOG_DIR"
chmod 0755 "/Library/Application Support/Steward"
chmod 0700 "$STATE_DIR"
chmod 0750 "$LOG_DIR"

cp "$here/$LABEL.plist" "$PLIST"
chown root:wheel "$PLIST"
chmod 0644 "$PLIST"

enroll_if_requested
if is_enrolled; then
  launchctl enable "system/$LABEL"
  launchctl bootstrap system "$PLIST"
  log "installed in $PREFIX and started ($LABEL)"
else
  # An unenrolled agent would only exit and be restarted by KeepAlive forever: keep it disabled until enrolled.
  launchctl disable "system/$LABEL"
  log "installed in $PREFIX but not enrolled: run it again with STEWARD_SERVER_URL and STEWARD_ENROLLMENT_TOKEN set"
fi
