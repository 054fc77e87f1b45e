#!/bin/sh
# Removes the Steward agent installed on macOS by install.sh (copied to /usr/local/steward-agent/uninstall.sh).
# Keeps the machine's key and enrollment in "/Library/Application Support/Steward" unless --purge is given.
#
# NOT TESTED ON A MAC: CI runs on Linux, where launchctl does not exist; only `sh -n` and ShellCheck run
# over this script there.
set -eu

usage() {
  echo "usage: $0 [--purge]" >&2
  exit 2
}

purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    *) usage ;;
  esac
done

[ "$(uname -s)" = Darwin ] || { echo "uninstall.sh is for macOS" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "uninstall.sh must run as root (sudo)" >&2; exit 1; }

label=com.steward.agent
launchctl bootout "system/$label" 2>/dev/null || true
rm -f "/Library/LaunchDaemons/$label.plist"
rm -rf /usr/local/steward-agent /usr/local/steward-agent.new /usr/local/steward-agent.old
if [ "$purge" = 1 ]; then
  rm -rf "/Library/Application Support/Steward" /Library/Logs/Steward
  # Drop the enable/disable override launchd keeps for the label.
  launchctl enable "system/$label" 2>/dev/null || true
fi
echo "steward-agent: removed$( [ "$purge" = 1 ] && echo ' (and its state)')" >&2
