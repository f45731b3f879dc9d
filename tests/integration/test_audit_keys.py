"""`joingate audit key create|rotate` and the key settings: bad input is exit 2 naming the field
and changes nothing; a key is never overwritten without --force; a key file that cannot be
read stops `joingate serve` at start-up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from joingate.note import parse_signer, parse_verifier
from joingate.testing.service import JOINGATE

pytestmark = pytest.mark.integration


def run(tmp_path: Path, *args: str, audit: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "joingate.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "j.db"}"\n{audit}')
    return subprocess.run([*JOINGATE, *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


def test_create_never_overwrites_without_force(tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    audit = f'[audit]\nsigning_key = "{key}"\norigin = "example.org/log"\n'
    made = run(tmp_path, "audit", "key", "create", audit=audit)
    assert made.returncode == 0, made.stderr
    verifier = parse_verifier(made.stdout.strip())
    assert verifier.name == "example.org/log"
    assert key.stat().st_mode & 0o777 == 0o600
    first = key.read_text()
    assert parse_signer(first).verifier == verifier
    again = run(tmp_path, "audit", "key", "create", audit=audit)
    assert again.returncode == 2 and "audit.signing_key" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert key.read_text() == first  # unchanged
    forced = run(tmp_path, "audit", "key", "create", "--force", "--name", "other", audit=audit)
    assert forced.returncode == 0 and key.read_text() != first
    assert parse_verifier(forced.stdout.strip()).name == "other"
    assert key.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(("args", "audit", "field"), [
    (["--name", "has space", "--out", "{K}"], "", "name"),
    (["--name", "a+b", "--out", "{K}"], "", "name"),
    ([], "", "audit.signing_key"),  # no file named anywhere
    (["--out", "/nonexistent-dir/k"], "", "audit.signing_key"),
    (["--out", "{K}"], '[audit]\norigin = "two words"\n', "audit.origin"),
])
def test_create_refuses_bad_input(tmp_path: Path, args: list[str], audit: str,
                                  field: str) -> None:
    key = tmp_path / "k"
    result = run(tmp_path, "audit", "key", "create",
                 *[str(key) if a == "{K}" else a for a in args], audit=audit)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"joingate: {field}:"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not key.exists()


def test_rotate_needs_a_key(tmp_path: Path) -> None:
    result = run(tmp_path, "audit", "key", "rotate")
    assert result.returncode == 2 and result.stderr.startswith("joingate: audit.signing_key:")


@pytest.mark.parametrize("content", [None, "not a key\n", "PRIVATE+KEY+x+00000000+AAAA\n"])
def test_serve_refuses_an_unreadable_key(tmp_path: Path, content: str | None) -> None:
    key = tmp_path / "audit.key"
    if content is not None:
        key.write_text(content)
    audit = f'[audit]\nsigning_key = "{key}"\n'
    for args in (["serve"], ["audit", "checkpoint"], ["audit", "key", "rotate"]):
        result = run(tmp_path, *args, audit=audit)
        assert result.returncode == 2, (args, result.stderr)
        assert "audit.signing_key" in result.stderr.splitlines()[-1]
