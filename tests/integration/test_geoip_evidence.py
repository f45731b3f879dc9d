"""Location evidence in a running service: a witness DB's disagreement, corrections made by
the CLI and over HTTP reaching every instance at once, and both in the transparency report."""

from __future__ import annotations

from pathlib import Path

import pytest

from joingate.testing.geodb import address, write_test_mmdb
from joingate.testing.service import JoingateService, http, wait_until
from tests.privacy import participant_addresses
from tests.support.postgres import PostgresServer
from tests.support.witness import write_witness_mmdb

pytestmark = pytest.mark.integration
HK = address("HK")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def test_witness_disagreement_and_corrections(tmp_path: Path, store_url: str) -> None:
    geo = write_test_mmdb(tmp_path / "primary.mmdb")
    witness = write_witness_mmdb(tmp_path / "witness.mmdb")
    env = {"JOINGATE_GEOIP_WITNESS": str(witness)}
    with JoingateService(tmp_path / "a", geoip=geo, store_url=store_url, name="-a",
                         env=env) as a, \
            JoingateService(tmp_path / "b", geoip=geo, store_url=store_url, name="-b",
                            env={**env, "JOINGATE_GEOIP_DISPUTED": "deny"}) as b:
        a.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                            "reason": "policy"})
        wait_until(lambda: b.authorize("vigil", address("CN"))["decision"] != "allow"
                   or None, timeout=10, what="the restriction to reach instance B")
        # The witness places HK's range in CN: contested evidence, each instance per its setting.
        on_a = a.authorize("vigil", HK)
        assert (on_a["decision"], on_a["rule"], on_a["country"], on_a["witness_country"]) == \
            ("allow", "disputed", "HK", "CN")
        on_b = b.authorize("vigil", HK)
        assert (on_b["decision"], on_b["rule"]) == ("deny", "disputed")
        assert a.authorize("vigil", address("DE"))["rule"] == "not-covered"
        # The census takes disputed counts with the same checks as the rest.
        status, body = http("POST", f"{a.url}/v1/census", {
            "rooms": {"vigil": {"HK": 1}}, "disputed": {"vigil": {"ZZ": 1}}}, a.plugin_token)
        assert status == 400 and body["error"]["field"] == "disputed.vigil.ZZ"

        # A correction made with the CLI (another process) reaches both instances.
        made = a.cli("geoip", "correct", "add", "127.0.2.0/24", "HK", "--reason",
                     "the ISP confirmed Hong Kong").stdout.strip()
        for svc in (a, b):
            wait_until(lambda svc=svc: svc.authorize("vigil", HK)["rule"] == "not-covered",
                       timeout=10, what="the correction to reach every instance")
        # Bad input: a /32, nothing written.
        status, body = b.api("POST", "/v1/geoip/corrections",
                             {"network": f"{HK}/32", "country": "HK", "reason": "x"})
        assert status == 400 and body["error"]["field"] == "network"
        bad = a.cli("geoip", "correct", "add", "2001:db8:2::/64", "HK", "--reason", "x",
                    check=False)
        assert bad.returncode == 2 and "network" in bad.stderr
        status, listed = b.api("GET", "/v1/geoip/corrections")
        assert status == 200 and [c["id"] for c in listed["corrections"]] == [int(made)]
        # Removed over HTTP on B: the dispute is back on A.
        status, removed = b.api("POST", f"/v1/geoip/corrections/{made}/remove",
                                {"reason": "confirmed wrong"})
        assert status == 200 and removed["state"] == "removed"
        wait_until(lambda: a.authorize("vigil", HK)["rule"] == "disputed", timeout=10,
                   what="the removal to reach instance A")
        # The report counts the disputed decisions and lists the correction.
        def report() -> dict[str, object] | None:
            _, body = http("GET", f"{a.url}/v1/report")
            return body if body["disputed"]["total"] >= 3 else None
        body = wait_until(report, timeout=15, what="disputed decisions to be counted")
        assert body["disputed"]["by_country"]["HK"] >= 2  # type: ignore[index]
        assert [c["network"] for c in body["geoip_corrections"]] == ["127.0.2.0/24"]  # type: ignore[index]
        markdown = a.cli("report").stdout
        assert "127.0.2.0/24" in markdown and "disputed evidence" in markdown
        assert "intact" in a.cli("audit", "verify").stdout
    for svc in (a, b):
        assert participant_addresses(svc.log_path.read_bytes()) == set()
