"""The Location evidence admin page in a real browser: the database's age and witness, a /32
correction refused next to its field (nothing written), a correction added and removed, each
taking effect in the service at once; the overview warns when the database is stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import maxminddb
import pytest
from playwright.sync_api import Page, expect

from joingate.testing.geodb import address, write_test_mmdb
from joingate.testing.service import JoingateService
from tests.support.witness import write_witness_mmdb

from .browser import shot, sign_in

pytestmark = pytest.mark.integration


def _age(path: Path, days: float) -> None:
    """Move the build time in the metadata `days` back (mmdb-writer stamps it now)."""
    data = bytearray(path.read_bytes())
    with maxminddb.open_database(str(path)) as reader:
        epoch = reader.metadata().build_epoch
    at = data.rfind(epoch.to_bytes(4, "big"))
    data[at:at + 4] = (epoch - int(days * 86400)).to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JoingateService]:
    geo = write_test_mmdb(tmp_path / "primary.mmdb")
    _age(geo, 50)
    witness = write_witness_mmdb(tmp_path / "witness.mmdb")
    with JoingateService(tmp_path / "svc", geoip=geo,
                         env={"JOINGATE_GEOIP_WITNESS": str(witness)}) as svc:
        yield svc


def test_location_evidence_page(page: Page, service: JoingateService) -> None:
    service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                              "reason": "policy"})
    assert service.authorize("vigil", address("HK"))["rule"] == "disputed"
    sign_in(page, service)
    expect(page.get_by_role("alert")).to_contain_text("joingate geoip update")
    page.get_by_role("navigation", name="Admin").get_by_role(
        "link", name="Location evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Location evidence")
    expect(page.get_by_role("heading", name="Witness database")).to_be_visible()
    expect(page.locator("main")).to_contain_text("admitted")
    shot(page, "geoip-01-page")

    page.get_by_label("Network").fill(address("HK", 0) + "/32")
    page.get_by_label("Country").fill("HK")
    page.get_by_label("Reason").fill("ISP confirmed")
    page.get_by_role("button", name="Add correction").click()
    expect(page.locator("#network-error")).to_contain_text("narrower than /24")
    assert service.api("GET", "/v1/geoip/corrections")[1]["corrections"] == []
    shot(page, "geoip-02-refused")

    page.get_by_label("Network").fill(address("HK", 0) + "/24")
    page.get_by_role("button", name="Add correction").click()
    expect(page.get_by_role("status")).to_contain_text("was added")
    assert service.authorize("vigil", address("HK"))["rule"] == "not-covered"
    shot(page, "geoip-03-added")

    made = service.api("GET", "/v1/geoip/corrections")[1]["corrections"][0]
    page.get_by_label(f"Reason for removing #{made['id']}").fill("wrong after all")
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("was removed")
    assert service.authorize("vigil", address("HK"))["rule"] == "disputed"
    audit = service.cli("audit", "verify")
    assert "intact" in audit.stdout
