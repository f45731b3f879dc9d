#!/usr/bin/env bash
# Set up joingate on a fresh Debian 12 machine: Python venv in .venv with joingate installed.
# Usage: bash scripts/setup.sh [--test]   (--test also installs what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
want_test=0; [ "${1:-}" = "--test" ] && want_test=1

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fi
}

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3 python3-venv python3-dev
fi
if [ $want_test -eq 1 ]; then
  # Prosody for the plugin's integration tests, luacheck for the Lua module, Chromium for the
  # browser tests (driven by Playwright's Python package; never a downloaded browser), and
  # PostgreSQL for the store contract and multi-instance tests, systemd for systemd-analyze
  # (the units in config/; a container may lack it), git (the wheel test compares the wheel
  # with the tracked files) and openssl (the TLS front's test certificate): a bare Debian image
  # has neither.
  apt_install prosody lua-check chromium postgresql systemd git openssl
  # The tests start their own PostgreSQL clusters; the packaged one is not needed.
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
  # The Debian package starts a system Prosody; the tests run their own.
  $SUDO systemctl disable --now prosody >/dev/null 2>&1 || $SUDO service prosody stop >/dev/null 2>&1 || true
  # Prosody 13 (Debian 13's package) in a debootstrapped folder, made once per machine.
  bash scripts/prosody13.sh >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# pip shows the build backend's warnings even with -q. One is a note, not a fault: setuptools
# says every editable install of a package mapped from another folder (seeds/ is installed as
# joingate.seeds) goes through an import finder, which is what we want. Only that note is
# silenced; tests/integration/test_packaging.py fails on any setuptools warning in a build.
quiet_note="ignore:Editable installation"
if [ $want_test -eq 1 ]; then
  PYTHONWARNINGS="$quiet_note" .venv/bin/python -m pip install -q -e '.[test]'
else
  PYTHONWARNINGS="$quiet_note" .venv/bin/python -m pip install -q -e .
fi
.venv/bin/python -c 'import maxminddb.extension' \
  || { echo "setup: the maxminddb C extension did not install" >&2; exit 1; }
echo "setup: done (.venv/bin/joingate)"
