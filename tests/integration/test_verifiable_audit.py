"""Publicly verifiable audit, end to end on SQLite and PostgreSQL: a real `joingate serve` signs
checkpoints; reports A, B, D published over HTTP and the CLI verify with `joingate audit
verify-reports`, across a key rotation; a forged signature fails; a consistent rewrite of one
old entry in the database gets a new signed head that a reader holding A catches; the public
proof routes hold no entry text."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from joingate.testing.service import JOINGATE, JoingateService, http, wait_until
from tests.integration.test_audit_tamper import Sql, rewrite_from
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration

ORIGIN = "meet.example.org/joingate"
# Every string the scenario writes into the log: none may appear in a public proof answer.
WRITTEN = ["Ministry-XYZZY", "REF-PLUGH-7", "end the vigil QUUX", "vigil-frobozz",
           "candle-grue", "mainland only WIBBLE", "operator policy ZORK", "lifted FNORD",
           "late-token-BLORB", "198.51.100.0/24", "documentation range SPLUNGE"]


@dataclass
class Scenario:
    work: Path
    svc: JoingateService
    reports: dict[str, Path]


def run_cli(*args: str, env_config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(env_config)] if env_config else []
    return subprocess.run([*JOINGATE, *args, *extra], capture_output=True, text=True,
                          timeout=60)


def verify_reports(old: Path, new: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("audit", "verify-reports", str(old), str(new), *extra)


def publish(svc: JoingateService, work: Path, name: str) -> dict[str, Path]:
    """Checkpoint now, then save the report as JSON (API), Markdown (CLI), HTML (/transparency)."""
    svc.cli("audit", "checkpoint")
    status, body = http("GET", f"{svc.url}/v1/report")
    assert status == 200
    paths = {"json": work / f"{name}.json", "md": work / f"{name}.md",
             "html": work / f"{name}.html"}
    paths["json"].write_text(json.dumps(body))
    paths["md"].write_text(svc.cli("report", "--format", "md").stdout)
    status, page = http("GET", f"{svc.url}/transparency")
    assert status == 200 and isinstance(page, str)
    paths["html"].write_text(page)
    return paths


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scenario(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    work = tmp_path_factory.mktemp("verifiable")
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database()
    audit = (f'[audit]\nsigning_key = "{work / "audit.key"}"\norigin = "{ORIGIN}"\n'
             "checkpoint_interval = 1.0\n")
    svc = JoingateService(work / "svc", store_url=url, extra_config=audit)
    created = svc.cli("audit", "key", "create")
    assert created.stdout.startswith(ORIGIN + "+")
    assert (work / "audit.key").stat().st_mode & 0o777 == 0o600
    reports: dict[str, Path] = {}
    with svc:
        _, req = svc.api("POST", "/v1/requests", {
            "authority": "Ministry-XYZZY", "jurisdiction": "CN", "reference": "REF-PLUGH-7",
            "rooms": ["vigil-frobozz", "candle-grue"], "demand": "end the vigil QUUX"})
        _, made = svc.api("POST", "/v1/restrictions", {
            "rooms": ["vigil-frobozz"], "countries": ["CN"], "request": req["id"],
            "reason": "REF-PLUGH-7"})
        for key, path in publish(svc, work, "A").items():
            reports[f"A.{key}"] = path
        svc.api("POST", f"/v1/requests/{req['id']}/decision",
                {"outcome": "partially", "note": "mainland only WIBBLE"})
        svc.api("POST", f"/v1/restrictions/{made['id']}/revoke", {"reason": "lifted FNORD"})
        svc.api("POST", "/v1/restrictions", {"rooms": ["candle-grue"], "countries": ["HK"],
                                              "reason": "operator policy ZORK"})
        svc.api("POST", "/v1/geoip/corrections", {
            "network": "198.51.100.0/24", "country": "DE",
            "reason": "documentation range SPLUNGE"})
        for key, path in publish(svc, work, "B").items():
            reports[f"B.{key}"] = path
        yield Scenario(work, svc, reports)


def test_later_reports_extend_earlier_ones(scenario: Scenario) -> None:
    r, url = scenario.reports, scenario.svc.url
    for old, new in (("A.json", "B.json"), ("A.md", "B.html"), ("A.html", "B.md")):
        result = verify_reports(r[old], r[new], "--url", url)
        assert result.returncode == 0, result.stderr
        assert "extends" in result.stdout
    # From the local store instead of the service.
    result = verify_reports(r["A.json"], r["B.json"], "--config", str(scenario.svc.config))
    assert result.returncode == 0, result.stderr
    # The reader may pin the key they got elsewhere (GET /v1/audit/key).
    _, key = http("GET", f"{url}/v1/audit/key")
    assert key["origin"] == ORIGIN and key["key"].startswith(ORIGIN + "+")
    result = verify_reports(r["A.json"], r["B.json"], "--url", url, "--key", key["key"])
    assert result.returncode == 0, result.stderr
    a = json.loads(r["A.json"].read_text())["audit_checkpoint"]
    assert a["key"] == key["key"] and a["origin"] == ORIGIN and a["signature"]
    assert "verify-reports" in json.loads(r["A.json"].read_text())["audit_verify"]
    assert "verify-reports" in r["B.html"].read_text()


def test_a_forged_signature_fails(scenario: Scenario, tmp_path: Path) -> None:
    r, url = scenario.reports, scenario.svc.url
    data = json.loads(r["B.json"].read_text())
    note = data["audit_checkpoint"]["note"]
    sig_line = note.rsplit("\n", 2)[1]
    flipped = sig_line[:-6] + ("A" if sig_line[-6] != "A" else "B") + sig_line[-5:]
    data["audit_checkpoint"]["note"] = note.replace(sig_line, flipped)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    result = verify_reports(r["A.json"], forged, "--url", url)
    assert result.returncode == 1 and "signature:" in result.stderr and "forged" in result.stderr
    # A head whose size was raised without re-signing.
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    data["audit_checkpoint"]["note"] = "\n".join(lines)
    forged.write_text(json.dumps(data))
    result = verify_reports(r["A.json"], forged, "--url", url)
    assert result.returncode == 1 and "signature:" in result.stderr
    # Signed by a key of the same name that A's key never handed over to.
    impostor_key = tmp_path / "impostor.key"
    run_cli("audit", "key", "create", "--name", ORIGIN, "--out", str(impostor_key))
    cfg = tmp_path / "impostor.toml"  # its own store: the scenario's log stays as it is
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "impostor.db"}"\n[audit]\n'
                   f'signing_key = "{impostor_key}"\norigin = "{ORIGIN}"\n')
    run_cli("token", "create", "--name", "x", "--scope", "admin", env_config=cfg)
    signed = json.loads(run_cli("audit", "checkpoint", env_config=cfg).stdout)
    data = json.loads(r["B.json"].read_text())
    data["audit_checkpoint"] = signed
    impostor = tmp_path / "impostor.json"
    impostor.write_text(json.dumps(data))
    result = verify_reports(r["A.json"], impostor, "--url", url)
    assert result.returncode == 1 and result.stderr.startswith("joingate: key:"), result.stderr


def test_proof_routes_hold_no_entry_text(scenario: Scenario) -> None:
    url = scenario.svc.url
    a = json.loads(scenario.reports["A.json"].read_text())["audit_checkpoint"]["size"]
    b = json.loads(scenario.reports["B.json"].read_text())["audit_checkpoint"]["size"]
    answers = []
    for first in range(1, b + 1):
        status, body = http("GET", f"{url}/v1/audit/consistency?from={first}&to={b}")
        assert status == 200 and body["from"] == first and body["to"] == b
        answers.append(json.dumps(body))
    for path in ("/v1/audit/checkpoints", "/v1/audit/key"):
        status, body = http("GET", url + path)
        assert status == 200
        answers.append(json.dumps(body))
    text = "\n".join(answers).lower()
    for written in WRITTEN:
        assert written.lower() not in text, written
    assert a < b


@pytest.mark.parametrize(("query", "field"), [
    ("", "from"), ("from=1", "to"), ("from=0&to=2", "from"), ("from=3&to=2", "from"),
    ("from=1&to=100000", "to"), ("from=x&to=2", "from"), ("from=1&to=%EF%BC%92", "to")])
def test_bad_ranges_are_refused_naming_the_field(scenario: Scenario, query: str,
                                                 field: str) -> None:
    status, body = http("GET", f"{scenario.svc.url}/v1/audit/consistency?{query}")
    assert status == 400 and body["error"]["field"] == field, body


def test_rotation_then_a_consistent_rewrite(scenario: Scenario) -> None:
    """Runs last: it rotates the key, then rewrites the database under the service."""
    svc, r, work = scenario.svc, scenario.reports, scenario.work
    old_key = http("GET", f"{svc.url}/v1/audit/key")[1]["key"]
    rotated = svc.cli("audit", "key", "rotate")
    assert old_key in rotated.stdout
    assert (work / "audit.key").stat().st_mode & 0o777 == 0o600
    retired = list(work.glob("audit.key.*.retired"))
    assert len(retired) == 1 and retired[0].stat().st_mode & 0o777 == 0o600
    # The running service picks the new key up at its next scheduled checkpoint.
    def served_key() -> str:
        return str(http("GET", f"{svc.url}/v1/audit/key")[1]["key"])

    wait_until(lambda: served_key() != old_key, timeout=30, what="the rotated key")
    new_key = served_key()
    svc.cli("token", "create", "--name", "late-token-BLORB", "--scope", "admin")
    wait_until(lambda: http("GET", f"{svc.url}/v1/audit/checkpoints")[1]["checkpoints"][-1]
               ["key"] == new_key, timeout=30, what="a checkpoint signed by the new key")
    d = publish(svc, work, "D")
    assert json.loads(d["json"].read_text())["audit_checkpoint"]["key"] == new_key
    assert len(json.loads(d["json"].read_text())["audit_key_rotations"]) == 1
    for old in ("A.json", "B.md"):
        result = verify_reports(r[old], d["json"], "--url", svc.url)
        assert result.returncode == 0, result.stderr
    result = verify_reports(r["A.html"], d["html"], "--url", svc.url)
    assert result.returncode == 0, result.stderr
    # Without the rotation statement, a reader holding A refuses D's key.
    stripped = json.loads(d["json"].read_text())
    stripped["audit_key_rotations"] = []
    (work / "D-stripped.json").write_text(json.dumps(stripped))
    result = verify_reports(r["A.json"], work / "D-stripped.json", "--url", svc.url)
    assert result.returncode == 1 and "key:" in result.stderr

    # An intruder with database access rewrites request 1's audit entry (entry 3: after the
    # two tokens) consistently, recomputing the chain.
    svc.stop()
    size_a = json.loads(r["A.json"].read_text())["audit_checkpoint"]["size"]
    assert size_a >= 3
    sql = Sql(svc.store_url)
    details = json.loads(sql.rows("SELECT details FROM audit_log WHERE seq = 3")[0][0])
    assert details["demand"] == "end the vigil QUUX"
    rewrite_from(sql, 3, {**details, "demand": "a milder demand"})
    sql.commit_and_close()
    # At the next change, the signer refuses to sign a tree that no longer extends its last
    # checkpoint...
    svc.cli("token", "create", "--name", "after-the-rewrite", "--scope", "admin")
    refused = svc.cli("audit", "checkpoint", check=False)
    assert refused.returncode == 1 and "history was rewritten" in refused.stderr
    # ...so the intruder removes the stored checkpoints too and gets a head signed.
    sql = Sql(svc.store_url)
    sql.execute("DELETE FROM audit_checkpoints")
    sql.commit_and_close()
    svc.start()
    c = publish(svc, work, "C")
    result = verify_reports(r["A.json"], c["json"], "--url", svc.url)
    assert result.returncode == 1, result.stdout
    assert "consistency:" in result.stderr and "rewritten" in result.stderr
    result = verify_reports(r["A.md"], c["html"], "--config", str(svc.config))
    assert result.returncode == 1 and "consistency:" in result.stderr
    result = verify_reports(d["json"], c["json"], "--url", svc.url)
    assert result.returncode == 1 and "consistency:" in result.stderr
    # Internally consistent again; only the published checkpoint contradicts it.
    svc.cli("audit", "verify")
    result = svc.cli("audit", "verify", "--checkpoint", str(r["A.json"]), check=False)
    assert result.returncode == 1 and "history rewritten" in result.stderr


def test_instances_serve_identical_heads(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.create_database()
    audit = (f'[audit]\nsigning_key = "{tmp_path / "audit.key"}"\norigin = "{ORIGIN}"\n'
             "checkpoint_interval = 1.0\n")
    first = JoingateService(tmp_path / "a", store_url=url, extra_config=audit, name="-a")
    first.cli("audit", "key", "create")
    with first, JoingateService(tmp_path / "b", store_url=url, extra_config=audit,
                                name="-b") as second:
        for i in range(4):
            (first if i % 2 else second).api("POST", "/v1/restrictions", {
                "rooms": [f"room-{i}"], "countries": ["MO"], "reason": "operator policy"})
            second.cli("audit", "checkpoint")
        # Both instances sign on their own schedule, under the store's lock: one tree.
        wait_until(lambda: len(http("GET", f"{first.url}/v1/audit/checkpoints")[1]
                               ["checkpoints"]) >= 3, timeout=30, what="checkpoints")
        mine = http("GET", f"{first.url}/v1/audit/checkpoints")[1]
        theirs = http("GET", f"{second.url}/v1/audit/checkpoints")[1]
        assert mine == theirs
        sizes = [c["size"] for c in mine["checkpoints"]]
        assert sizes == sorted(set(sizes)) and mine["checkpoints"][-1]["note"]
        report = tmp_path / "late.json"
        report.write_text(json.dumps(http("GET", f"{second.url}/v1/report")[1]))
        early = tmp_path / "early.json"
        data = json.loads(report.read_text())
        data["audit_checkpoint"] = mine["checkpoints"][0]
        early.write_text(json.dumps(data))
        result = verify_reports(early, report, "--url", first.url)
        assert result.returncode == 0, result.stderr
