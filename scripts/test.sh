#!/usr/bin/env bash
# The whole test suite: lint, types, unit, integration (real joingate serve, real PostgreSQL,
# real Prosody, real Chromium). Installs what it needs first. Nothing is skipped: a skipped test
# is a failure, and the run fails if any selected suite ran no test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export JOINGATE_STRICT_TESTS=1   # tests/conftest.py turns any skip into a failure
.venv/bin/ruff check .
.venv/bin/mypy
command -v luacheck >/dev/null || { echo "test: luacheck is missing" >&2; exit 1; }
luacheck --config plugins/prosody/.luacheckrc plugins/prosody
rm -rf test-artifacts && mkdir -p test-artifacts
.venv/bin/python -m pytest -p no:cacheprovider --junitxml=test-artifacts/junit.xml "$@"
# Every suite the arguments select (all of them without path arguments) must have run tests.
.venv/bin/python scripts/check_suites.py test-artifacts/junit.xml "$@"
