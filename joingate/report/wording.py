"""Labels and sentences the Markdown and the HTML renderings share, so both say the same."""

from __future__ import annotations

from ..jurisdiction import jurisdictions
from .model import UNKNOWN_COUNTRY, Report

UNSIGNED = ("This checkpoint is unsigned (the operator has configured no audit.signing_key): "
            "a reader cannot verify it, only the operator's `joingate audit verify` can.")
ROTATIONS = ("Key rotations (each statement is signed by the key it retires and by the key "
             "it introduces):")
SIGNED_HEAD = "Signed tree head (a C2SP checkpoint of the RFC 9162 Merkle tree, Ed25519):"
NO_REQUEST = "No authority request was received in this period."
NO_PARTICIPANT = "No participant was refused or removed in this period."
NO_CORRECTION = "No GeoIP correction was in force during the period."
NO_CHECKPOINT = "No checkpoint of the audit log was taken by the end of this period."
VERIFY_CHECKPOINT = ("Anyone holding this report can check a later copy of the log against it "
                     "(`joingate audit verify --checkpoint report.json`).")


def period(report: Report) -> str:
    p = report["period"]
    start = p["since"] or "the start of the record"
    return f"{start} to {p['until']} (UTC, both days included)"


def country(code: str) -> str:
    if code == UNKNOWN_COUNTRY:
        return "location unknown"
    return f"{jurisdictions().country_names.get(code, code)} ({code})"


def country_rows(report: Report) -> list[tuple[str, int, int]]:
    """(code, refused, removed) per country, most participants first."""
    refused = report["participants"]["refused"]
    removed = report["participants"]["removed"]
    codes = sorted(set(refused) | set(removed),
                   key=lambda c: (-(refused.get(c, 0) + removed.get(c, 0)), c))
    return [(c, refused.get(c, 0), removed.get(c, 0)) for c in codes]


def covers(report: Report) -> str:
    parts = [f"{code} ({e['name']}) covers {', '.join(e['covers'])}"
             for code, e in report["by_jurisdiction"].items()]
    return ("What each jurisdiction covers (a restriction made for its authorities may reach "
            "these countries and no other): " + "; ".join(parts) + ".")


def disputed(report: Report) -> str:
    found = report["disputed"]
    if not found["total"]:
        return ("No decision was made on disputed evidence (the two GeoIP databases never "
                "disagreed about a restricted country).")
    parts = ", ".join(f"{country(c)}: {n}" for c, n in found["by_country"].items())
    return (f"{found['total']} decisions were made on disputed evidence (the two GeoIP "
            f"databases disagreed about a restricted country), by the first database's "
            f"country: {parts}.")


def operator_policies(report: Report) -> str | None:
    op = report["operator_policies"]
    if not op["restrictions_created"]:
        return None
    return (f"Operator policies (not made for any authority): {op['restrictions_created']} "
            f"created, covering {', '.join(op['restricted_countries'])}.")


def listed(codes: list[str]) -> str:
    return ", ".join(codes) or "—"
