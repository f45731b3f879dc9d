"""Which ISO 3166-1 codes an authority's jurisdiction covers (data: seeds/jurisdictions.json).

A jurisdiction not in the table covers only its own code, so a request can never reach past
the country that sent it unless the table says so on the record, with its sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    code: str
    name: str
    covers: frozenset[str]
    note: str


class JurisdictionTable:
    def __init__(self, countries: dict[str, str], entries: dict[str, Jurisdiction]):
        self.country_names = countries
        self._entries = entries

    def is_country(self, code: str) -> bool:
        return code in self.country_names

    def get(self, code: str) -> Jurisdiction:
        """The jurisdiction of `code` (an ISO code): from the table, or own-code-only."""
        found = self._entries.get(code)
        if found is not None:
            return found
        return Jurisdiction(code, self.country_names.get(code, code), frozenset({code}),
                            "Not in the table: covers its own code only.")

    def covers(self, jurisdiction: str, country: str) -> bool:
        return country in self.get(jurisdiction).covers


def _seed(name: str) -> Any:
    return json.loads((resources.files("joingate.seeds") / name).read_text(encoding="utf-8"))


@cache
def jurisdictions() -> JurisdictionTable:
    """The shipped table (loaded once)."""
    countries: dict[str, str] = _seed("iso3166-1.json")["codes"]
    entries: dict[str, Jurisdiction] = {}
    for code, raw in _seed("jurisdictions.json")["jurisdictions"].items():
        covers = frozenset(raw["covers"])
        unknown = sorted(c for c in covers | {code} if c not in countries)
        if unknown or code not in covers:
            raise ValueError(f"seeds/jurisdictions.json: {code}: bad codes {unknown}")
        entries[code] = Jurisdiction(code, raw["name"], covers, raw.get("note", ""))
    return JurisdictionTable(countries, entries)
