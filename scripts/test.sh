#!/usr/bin/env bash
# The whole test suite: lint, types, unit, integration (real joingate serve, real PostgreSQL,
# real Prosody, real Chromium), then the Prosody suite again on Prosody 13 (Debian 13's package
# run with chroot from the folder scripts/prosody13.sh makes). Installs what it needs first.
# Nothing is skipped: a skipped test is a failure, and the run fails if any selected suite ran
# no test, or the Prosody suite, when selected, did not run on both 0.12 and 13.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export JOINGATE_STRICT_TESTS=1   # tests/conftest.py turns any skip into a failure
.venv/bin/ruff check .
.venv/bin/mypy
command -v luacheck >/dev/null || { echo "test: luacheck is missing" >&2; exit 1; }
luacheck --config plugins/prosody/.luacheckrc plugins/prosody
rm -rf test-artifacts && mkdir -p test-artifacts
JOINGATE_PROSODY=0.12 .venv/bin/python -m pytest -p no:cacheprovider \
  --junitxml=test-artifacts/junit.xml "$@"
junit=test-artifacts/junit.xml
if .venv/bin/python scripts/check_suites.py --selects tests.prosody "$@"; then
  # A whole run repeats the Prosody suite and the privacy scan (over what Prosody 13 and the
  # plugin wrote); a run with arguments repeats itself.
  again=("$@"); [ $# -gt 0 ] || again=(tests/prosody tests/test_privacy_scan.py)
  JOINGATE_PROSODY=13 .venv/bin/python -m pytest -p no:cacheprovider \
    --junitxml=test-artifacts/junit-prosody13.xml "${again[@]}"
  junit+=,test-artifacts/junit-prosody13.xml
fi
# Every suite the arguments select (all of them without path arguments) must have run tests.
.venv/bin/python scripts/check_suites.py "$junit" "$@"
