"""A damaged GeoIP database (valid tree and metadata, data section overwritten) never blinds
the service nor puts an address in its output (issue 11, item 1)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from joingate.testing.geodb import LOOPBACK_COUNTRY, address, damage_data_section, write_test_mmdb
from joingate.testing.service import JOINGATE, JoingateService, http, wait_until
from tests.privacy import participant_addresses

pytestmark = pytest.mark.integration


def test_a_damaged_replacement_is_refused_and_the_old_database_kept(tmp_path: Path) -> None:
    with JoingateService(tmp_path / "svc") as svc:
        svc.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                              "reason": "policy"})
        assert svc.authorize("vigil", address("CN"))["decision"] == "deny"
        damaged = damage_data_section(write_test_mmdb(tmp_path / "damaged.mmdb"))
        damaged.replace(svc.geoip)

        def reload_error() -> str | None:
            status, body = http("GET", f"{svc.url}/readyz")
            assert status == 200 and body["ready"] is True
            return body["geoip"]["reload_error"]  # type: ignore[no-any-return]

        error = wait_until(reload_error, timeout=30, what="the damaged DB to be refused")
        assert "damaged" in error and str(svc.geoip) in error
        # The old DB stays in use: every participant is still placed and judged.
        for country in LOOPBACK_COUNTRY:
            verdict = svc.authorize("vigil", address(country, 77))
            assert verdict["country"] == country
            assert verdict["decision"] == ("deny" if country == "CN" else "allow")
        status, body = http("POST", f"{svc.url}/v1/authorize/batch",
                            {"checks": [{"room": "vigil", "ip": address(c, 78)}
                                        for c in LOOPBACK_COUNTRY]}, svc.plugin_token)
        assert status == 200
        assert [r["country"] for r in body["results"]] == list(LOOPBACK_COUNTRY)
        assert http("GET", f"{svc.url}/readyz")[1]["geoip"]["lookup_errors"] == 0
    output = svc.log_path.read_bytes()
    assert b"keeping the current database" in output
    assert participant_addresses(output) == set()


def test_the_service_refuses_to_start_on_a_damaged_database(tmp_path: Path) -> None:
    damaged = damage_data_section(write_test_mmdb(tmp_path / "damaged.mmdb"))
    svc = JoingateService(tmp_path / "svc", geoip=damaged)
    result = subprocess.run([*JOINGATE, "serve", "--config", str(svc.config)],
                            capture_output=True, timeout=60, cwd=svc.workdir, env=svc.env)
    assert result.returncode == 1
    assert b"geoip.database" in result.stderr and b"damaged" in result.stderr
    assert b"Traceback" not in result.stderr


def test_a_lookup_error_leaves_the_address_unplaced(tmp_path: Path) -> None:
    """The CLI opens the DB without the full check, so a damaged DB reaches its lookups."""
    damaged = damage_data_section(write_test_mmdb(tmp_path / "damaged.mmdb"))
    svc = JoingateService(tmp_path / "svc", geoip=damaged, unknown="deny")
    svc.cli("restrict", "add", "--room", "vigil", "--country", "CN", "--reason", "policy")
    outputs = []
    for ip in (address("CN"), "2001:db8:1::5"):
        result = svc.cli("check", "--room", "vigil", "--ip", ip, "--json")
        outputs.append(result.stdout + result.stderr)
        assert '"rule": "unknown-location"' in result.stdout
        assert '"country": null' in result.stdout
        result = svc.cli("geoip", "lookup", ip)
        assert result.stdout.strip() == "unknown"
        outputs.append(result.stdout + result.stderr)
    text = "\n".join(outputs).encode()
    assert b"treated as unplaced" in text
    assert participant_addresses(text) == set()
