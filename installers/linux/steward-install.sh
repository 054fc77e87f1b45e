# Shared by the .deb maintainer scripts and the tarball's install.sh (installed as
# /opt/steward-agent/lib/steward-install.sh). POSIX sh, sourced, never run. Every path is prefixed with
# $STEWARD_ROOT, which is empty on a live system and a directory when installing into another root
# (dpkg --root with DPKG_ROOT, or install.sh --root).
# shellcheck shell=sh

STEWARD_ROOT=${STEWARD_ROOT:-}
STEWARD_UNIT=steward-agent.service
STEWARD_BIN=/opt/steward-agent/steward-agent
STEWARD_STATE_DIR=/var/lib/steward-agent
STEWARD_ENROLL_FILE=/etc/steward-agent/enroll.env

steward_log() {
  printf 'steward-agent: %s\n' "$*" >&2
}

# True when systemd is PID 1 of the system we are installing into (the sd_booted() test). Never true for
# another root, a chroot or a container started without systemd: there we only enable, never start.
steward_systemd_running() {
  [ -z "$STEWARD_ROOT" ] && [ -d /run/systemd/system ]
}

steward_prepare_dirs() {
  mkdir -p "$STEWARD_ROOT$STEWARD_STATE_DIR"
  chmod 0700 "$STEWARD_ROOT$STEWARD_STATE_DIR"
}

steward_is_enrolled() {
  [ -f "$STEWARD_ROOT$STEWARD_STATE_DIR/agent.json" ]
}

# Reads KEY=VALUE lines of the enrollment file $1 without executing it. Values already set (from the environment,
# or from a file read before) win.
steward_read_enroll_file() {
  file=$1
  [ -f "$file" ] || return 0
  mode=$(stat -c '%a' "$file")
  if [ "$mode" != 600 ] && [ "$mode" != 400 ]; then
    steward_log "warning: $file has mode $mode; it holds a secret and should be 0600"
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    key=${line%%=*}
    value=${line#*=}
    # Tolerate `KEY="value"` and `KEY='value'` as written for a shell.
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
      *) steward_log "warning: ignoring unknown setting '$key' in $file" ;;
    esac
  done <"$file"
}

# Enrolls when a server URL and a token were given (environment or enroll.env). An already enrolled machine is
# left alone unless STEWARD_REENROLL=1, so a lingering variable does not burn a token on every upgrade.
# The token reaches the agent through its environment, never its argv (argv is world-readable in /proc).
# Returns non-zero when enrollment was requested and failed; enroll.env is then kept so a retry can use it.
steward_enroll_if_requested() {
  steward_read_enroll_file "$STEWARD_ROOT$STEWARD_ENROLL_FILE"
  if [ -z "${STEWARD_SERVER_URL:-}" ] && [ -z "${STEWARD_ENROLLMENT_TOKEN:-}" ]; then
    if ! steward_is_enrolled; then
      steward_log "installed but not enrolled: run '$STEWARD_BIN enroll --server <url>' with STEWARD_ENROLLMENT_TOKEN set, then 'systemctl start $STEWARD_UNIT'"
    fi
    return 0
  fi
  if [ -z "${STEWARD_SERVER_URL:-}" ] || [ -z "${STEWARD_ENROLLMENT_TOKEN:-}" ]; then
    steward_log "enrollment needs both STEWARD_SERVER_URL and STEWARD_ENROLLMENT_TOKEN"
    return 1
  fi
  if steward_is_enrolled && [ "${STEWARD_REENROLL:-0}" != 1 ]; then
    steward_log "already enrolled; not enrolling again (set STEWARD_REENROLL=1 to move this machine)"
    rm -f "$STEWARD_ROOT$STEWARD_ENROLL_FILE"
    return 0
  fi
  set -- enroll --server "$STEWARD_SERVER_URL" --state-dir "$STEWARD_ROOT$STEWARD_STATE_DIR"
  [ -z "${STEWARD_CA_FILE:-}" ] || set -- "$@" --ca-file "$STEWARD_CA_FILE"
  [ -z "${STEWARD_PIN_CERT:-}" ] || set -- "$@" --pin-cert "$STEWARD_PIN_CERT"
  [ "${STEWARD_ALLOW_INSECURE:-0}" != 1 ] || set -- "$@" --allow-insecure
  if STEWARD_ENROLLMENT_TOKEN=$STEWARD_ENROLLMENT_TOKEN "$STEWARD_ROOT$STEWARD_BIN" "$@"; then
    rm -f "$STEWARD_ROOT$STEWARD_ENROLL_FILE"
    return 0
  fi
  steward_log "enrollment with $STEWARD_SERVER_URL failed; fix the cause and retry (dpkg --configure -a, or install.sh)"
  return 1
}

# Enables the unit for the next boot (works offline, in a chroot or another root) and, when systemd runs this
# system, reloads it and (re)starts an enrolled agent so an upgrade takes effect at once.
steward_enable_service() {
  if ! command -v systemctl >/dev/null 2>&1; then
    steward_log "systemctl not found: start '$STEWARD_BIN run' with your init system"
    return 0
  fi
  if steward_systemd_running; then
    systemctl daemon-reload
    systemctl enable "$STEWARD_UNIT"
    if steward_is_enrolled; then
      systemctl restart "$STEWARD_UNIT"
    fi
  elif [ -n "$STEWARD_ROOT" ]; then
    systemctl --root="$STEWARD_ROOT" enable "$STEWARD_UNIT"
  else
    # A container or chroot without systemd as PID 1: enabling is still meaningful for the image it becomes.
    systemctl enable "$STEWARD_UNIT" || steward_log "could not enable $STEWARD_UNIT (systemd is not running here)"
  fi
}

steward_disable_service() {
  command -v systemctl >/dev/null 2>&1 || return 0
  if steward_systemd_running; then
    systemctl disable --now "$STEWARD_UNIT" || true
  elif [ -n "$STEWARD_ROOT" ]; then
    systemctl --root="$STEWARD_ROOT" disable "$STEWARD_UNIT" || true
  else
    systemctl disable "$STEWARD_UNIT" || true
  fi
}
