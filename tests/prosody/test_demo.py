"""`joingate demo` replays June 2020 end to end on a real Prosody and says what happened."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from joingate.testing.service import JOINGATE

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

MAINLAND = {"Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Sun", "Ma"}


def test_demo_tells_the_story(tmp_path: Path) -> None:
    done = subprocess.run([*JOINGATE, "demo"], capture_output=True, text=True, timeout=180)
    (tmp_path / "demo.out").write_text(done.stdout + done.stderr)  # for the privacy scan
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "refused (HTTP 422, field countries)" in out and "HK is outside it" in out
    removed = set(re.findall(r"removed from june4-[a-z]+: (\w+) \(CN\)", out))
    assert removed == MAINLAND
    assert "Liu (CN) tries to rejoin june4-ny: refused" in out
    # Who is in each meeting is what Prosody lists (prosodyctl shell), not the demo's notes.
    now = dict(re.findall(r"in (june4-\w+) now \(as Prosody lists it\): (.+)$", out,
                          re.MULTILINE))
    assert now["june4-hk"] == "Lee (HK, host), Chan (HK), Wong (HK), Lin (TW)"
    assert now["june4-vigil"] == "Cheung (HK, host), Davis (US)"
    stayed = dict(re.findall(r"\]   (june4-\w+) +(.+)$", out.split("Who stayed")[1],
                             re.MULTILINE))
    assert stayed == {
        "june4-hk": "Lee (HK, host), Chan (HK), Wong (HK), Lin (TW)",
        "june4-ny": "Smith (US, host), Ho (HK), Leong (MO)",
        "june4-la": "Garcia (US, host), Weber (DE)",
        "june4-taipei": "Tsai (TW, host), Kao (TW), Miller (US)",
        "june4-vigil": "Cheung (HK, host), Davis (US)"}
    assert "Host accounts suspended: 0. Meetings ended: 0." in out
    assert "Prosody still has the session of 5 of 5 hosts and 5 of 5 meetings." in out
    assert "# Transparency report" in out and "removed from a meeting: **10**" in out
    assert not re.search(r"127\.0\.[1-9]\.\d+", out)  # no participant address is printed
