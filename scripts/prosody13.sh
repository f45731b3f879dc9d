#!/usr/bin/env bash
# Prosody 13 for the plugin tests: Debian 13 "trixie"'s prosody package in a debootstrapped
# folder (about 230 MB), made once per machine and reused. tests/prosody runs it with chroot
# when JOINGATE_PROSODY=13 (see joingate/testing/prosody.py).
# Usage: bash scripts/prosody13.sh   (prints the folder; JOINGATE_PROSODY13_ROOT overrides it)
set -euo pipefail
ROOT=${JOINGATE_PROSODY13_ROOT:-/var/cache/joingate/trixie-prosody13}
MARKER=.joingate-prosody13-complete
# Without its Lua libraries named here debootstrap leaves prosody unconfigured; lua-event,
# lua-unbound and lua-readline are what `apt-get install prosody` adds as recommended.
PACKAGES=prosody,lua-bitop,lua-sec,lua-socket,lua-expat,lua-filesystem,lua-event,lua-unbound,lua-readline
# debootstrap and chroot need root (so do the tests that use the folder).
[ "$(id -u)" -eq 0 ] || exec sudo JOINGATE_PROSODY13_ROOT="$ROOT" bash "$0" "$@"

complete() {
  local version
  [ -f "$1/$MARKER" ] || return 1
  version=$(chroot "$1" prosodyctl about 2>/dev/null || true)
  [[ "$version" == "Prosody 13."* ]]
}

# The Debian mirror apt already uses (deb822 or one-line sources), else Debian's own.
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\/\{0,1\}\)\([[:space:]].*\)\{0,1\}$/\1/p' \
          | head -n 1)
  [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\/\{0,1\}\)[[:space:]].*/\2/p' \
          | head -n 1)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Refuse to delete a folder that has anything mounted inside it (the tests mount only in a
# private mount namespace, so this means someone else's mount: leave it to a person).
remove() {
  if awk -v d="$1" 'index($2, d "/") == 1 || $2 == d { found = 1 } END { exit !found }' /proc/mounts; then
    echo "prosody13: something is mounted under $1; unmount it and run again" >&2
    exit 1
  fi
  rm -rf --one-file-system "$1"
}

if complete "$ROOT"; then
  echo "$ROOT"
  exit 0
fi

command -v debootstrap >/dev/null || {
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
}

# One build at a time on this machine; a run that waited here may find the folder made.
parent=$(dirname "$ROOT")
mkdir -p "$parent"
exec 9>>"$parent/.prosody13.lock"
flock 9
if complete "$ROOT"; then
  echo "$ROOT"
  exit 0
fi

# Build beside the final folder and rename it into place only when Prosody 13 runs in it: an
# interrupted run leaves a *.partial folder, which the next run deletes and redoes.
for old in "$ROOT".partial.* "$ROOT"; do
  if [ -e "$old" ]; then remove "$old"; fi
done
work="$ROOT.partial.$$"
start=$(date +%s)
echo "prosody13: debootstrap trixie into $ROOT (once per machine)" >&2
if ! debootstrap --variant=minbase --include="$PACKAGES" trixie "$work" "$(mirror)" \
    >"$parent/debootstrap.log" 2>&1; then
  tail -n 30 "$parent/debootstrap.log" >&2
  echo "prosody13: debootstrap failed (log: $parent/debootstrap.log)" >&2
  exit 1
fi
rm -f "$work"/var/cache/apt/archives/*.deb  # the downloaded packages (45 MB)
touch "$work/$MARKER"
if ! complete "$work"; then
  echo "prosody13: debootstrap finished but 'prosodyctl about' in $work is not 13.x" >&2
  exit 1
fi
mv "$work" "$ROOT"
echo "prosody13: ready in $(( $(date +%s) - start )) s, $(du -sh "$ROOT" | cut -f1)" >&2
echo "$ROOT"
