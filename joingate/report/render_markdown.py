"""The report as Markdown (`joingate report`, the default format)."""

from __future__ import annotations

import re
from typing import Any

from . import wording as w
from .model import DBIP_ATTRIBUTION, DBIP_URL, Report


def _md(text: Any) -> str:
    """Escape table-breaking and markup characters in a cell."""
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", str(text)).replace("\n", " ")


def _table(head: str, align: str, rows: list[str]) -> list[str]:
    return [head, align, *rows]


def render_markdown(report: Report) -> str:
    totals = report["participants_total"]
    out = [
        "# Transparency report", "",
        f"Period: {w.period(report)}. Generated {report['generated_at']}.", "",
        f"- Authority requests received: **{len(report['requests'])}**",
        f"- Participants refused entry: **{totals['refused']}**; removed from a meeting: "
        f"**{totals['removed']}**",
        f"- Host accounts suspended: **{report['accounts_suspended']}**",
        f"- Meetings ended: **{report['meetings_ended']}**", "",
        "## Requests by jurisdiction", "",
    ]
    if report["by_jurisdiction"]:
        out += _table(
            "| Jurisdiction | Requests | Meetings named | Complied | Partially | Refused | "
            "Undecided | Restrictions created | Countries restricted | Participants refused | "
            "Participants removed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
            [f"| {_md(w.country(code))} | {e['requests_received']} | {e['meetings_named']} | "
             f"{e['outcomes']['complied']} | {e['outcomes']['partially']} | "
             f"{e['outcomes']['refused']} | {e['outcomes']['undecided']} | "
             f"{e['restrictions_created']} | {w.listed(e['restricted_countries'])} | "
             f"{sum(e['participants']['refused'].values())} | "
             f"{sum(e['participants']['removed'].values())} |"
             for code, e in report["by_jurisdiction"].items()])
        out += ["", _md(w.covers(report))]
    else:
        out.append(w.NO_REQUEST)
    out += ["", "## Requests", ""]
    if report["requests"]:
        out += _table(
            "| Received | Jurisdiction | Authority | Reference | Meetings named | Outcome | "
            "Countries restricted |",
            "| --- | --- | --- | --- | ---: | --- | --- |",
            [f"| {r['received_at']} | {r['jurisdiction']} | {_md(r['authority'])} | "
             f"{_md(r['reference'])} | {r['meetings_named']} | {r['outcome']} | "
             f"{w.listed(r['restricted_countries'])} |" for r in report["requests"]])
    else:
        out.append("None.")
    out += ["", "## Participants refused and removed, by country", ""]
    rows = w.country_rows(report)
    if rows:
        out += _table("| Country | Refused entry | Removed |", "| --- | ---: | ---: |",
                      [f"| {_md(w.country(code))} | {refused} | {removed} |"
                       for code, refused, removed in rows])
    else:
        out.append(w.NO_PARTICIPANT)
    policies = w.operator_policies(report)
    if policies:
        out += ["", policies]
    out += ["", "## Location evidence", "", _md(w.disputed(report)), ""]
    corrections = report["geoip_corrections"]
    if corrections:
        out += ["GeoIP corrections in force during the period (an operator's statement that a "
                "network is in a country, over both databases):", ""]
        out += _table("| Network | Country | Reason | Made | Removed |",
                      "| --- | --- | --- | --- | --- |",
                      [f"| {c['network']} | {c['country']} | {_md(c['reason'])} | "
                       f"{c['created_at']} | {c['removed_at'] or '—'} |" for c in corrections])
    else:
        out.append(w.NO_CORRECTION)
    out += ["", "## Never done", ""]
    out += [f"- **{_md(s['statement'])}** {_md(s['basis'])}" for s in report["never_done"]]
    out += ["", "## Audit checkpoint", "", *_checkpoint(report), "",
            f"Countries are placed from addresses by the GeoIP database ({DBIP_ATTRIBUTION}, "
            f"<{DBIP_URL}>). No address is recorded.", ""]
    return "\n".join(out)


def _checkpoint(report: Report) -> list[str]:
    cp = report["audit_checkpoint"]
    if cp is None:
        return [w.NO_CHECKPOINT, ""]
    out = [f"At {cp['at']} the audit log held {cp['size']} entries; the hash of the last is "
           f"{cp['head']}. {w.VERIFY_CHECKPOINT}", ""]
    if not cp.get("note"):
        return [*out, w.UNSIGNED]
    # The note ends with a newline: the closing fence follows it on its own line.
    out += [w.SIGNED_HEAD, "", "```text", cp["note"] + "```", "",
            f"Verifier key: `{cp['key']}`", ""]
    for i, rotation in enumerate(report["audit_key_rotations"]):
        if i == 0:
            out += [w.ROTATIONS, ""]
        out += ["```text", rotation + "```", ""]
    out.append(f"To verify: {report['audit_verify']}")
    return out
