"""joingate.jurisdiction: the shipped table and its loader's checks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from joingate import jurisdiction
from joingate.jurisdiction import jurisdictions

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
US_TERRITORIES = ("PR", "GU", "VI", "AS", "MP", "UM")


def test_cn_covers_mainland_only() -> None:
    table = jurisdictions()
    assert table.get("CN").covers == frozenset({"CN"})
    for code in ("HK", "MO", "TW"):
        assert not table.covers("CN", code)
    assert table.covers("CN", "CN")


@pytest.mark.parametrize("code", ["HK", "MO", "TW"])
def test_sar_and_taiwan_cover_only_themselves(code: str) -> None:
    table = jurisdictions()
    assert table.get(code).covers == frozenset({code})
    assert not table.covers(code, "CN")


def test_us_covers_its_territories() -> None:
    table = jurisdictions()
    for code in ("US", *US_TERRITORIES):
        assert table.covers("US", code)
    for code in ("CA", "MX", "PH", "CN"):
        assert not table.covers("US", code)


@pytest.mark.parametrize("code", ["JP", "DE", "BR"])
def test_code_not_in_the_table_covers_only_itself(code: str) -> None:
    table = jurisdictions()
    found = table.get(code)
    assert found.code == code
    assert found.covers == frozenset({code})
    assert found.name != code  # named from the ISO table
    assert table.covers(code, code)
    assert not table.covers(code, "CN")


def test_is_country() -> None:
    table = jurisdictions()
    assert table.is_country("CN")
    assert table.is_country("HK")
    assert not table.is_country("XX")
    assert not table.is_country("cn")
    assert not table.is_country("CHN")


def test_table_is_loaded_once() -> None:
    assert jurisdictions() is jurisdictions()


def test_every_code_in_the_seed_is_an_iso_code() -> None:
    iso = json.loads((SEEDS / "iso3166-1.json").read_text(encoding="utf-8"))["codes"]
    assert len(iso) >= 249
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in iso)
    raw = json.loads((SEEDS / "jurisdictions.json").read_text(encoding="utf-8"))
    for code, entry in raw["jurisdictions"].items():
        assert code in iso, code
        assert code in entry["covers"], code
        for covered in entry["covers"]:
            assert covered in iso, (code, covered)
        assert entry["name"]
    # and the loader agrees with the file
    table = jurisdictions()
    for code, entry in raw["jurisdictions"].items():
        assert table.get(code).covers == frozenset(entry["covers"])


# -- loader checks (with a monkeypatched seed) -----------------------------------------------

@pytest.fixture
def fresh_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Lets a test replace jurisdictions.json; the cached real table is restored afterwards."""
    real_seed = jurisdiction._seed
    fake: dict[str, Any] = {"jurisdictions": {}}

    def seed(name: str) -> Any:
        return fake if name == "jurisdictions.json" else real_seed(name)

    jurisdictions.cache_clear()
    monkeypatch.setattr(jurisdiction, "_seed", seed)
    yield fake
    monkeypatch.undo()
    jurisdictions.cache_clear()


@pytest.mark.parametrize("entries", [
    pytest.param({"CN": {"name": "x", "covers": ["CN", "XX"]}}, id="covers-unknown-code"),
    pytest.param({"ZZ": {"name": "x", "covers": ["ZZ"]}}, id="key-unknown-code"),
    pytest.param({"CN": {"name": "x", "covers": ["HK"]}}, id="does-not-cover-itself"),
    pytest.param({"CN": {"name": "x", "covers": ["cn"]}}, id="lower-case"),
])
def test_loader_refuses_a_bad_table(fresh_table: dict[str, Any],
                                    entries: dict[str, Any]) -> None:
    fresh_table["jurisdictions"] = entries
    with pytest.raises(ValueError, match=r"jurisdictions\.json"):
        jurisdictions()


def test_loader_accepts_a_good_table(fresh_table: dict[str, Any]) -> None:
    fresh_table["jurisdictions"] = {"FR": {"name": "France", "covers": ["FR", "RE"]}}
    table = jurisdictions()
    assert table.covers("FR", "RE")
    assert table.get("FR").note == ""
    assert table.get("CN").covers == frozenset({"CN"})  # not in this table: own code only
