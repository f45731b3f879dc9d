#!/usr/bin/env bash
# The whole test suite: lint, types, unit, integration (real joingate serve, real Prosody).
# Installs what it needs first. Any suite that cannot run fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export JOINGATE_STRICT_TESTS=1   # tests/conftest.py turns any skip into a failure
.venv/bin/ruff check .
.venv/bin/mypy
if command -v luacheck >/dev/null; then
  luacheck --config plugins/prosody/.luacheckrc plugins/prosody
else
  echo "test: luacheck is missing" >&2; exit 1
fi
mkdir -p test-artifacts
.venv/bin/python -m pytest -p no:cacheprovider --junitxml=test-artifacts/junit.xml "$@"
