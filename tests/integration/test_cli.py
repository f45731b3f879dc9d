"""The `joingate` command against a running service's store: verbs, --json, exit codes."""

from __future__ import annotations

import json

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, wait_until

pytestmark = pytest.mark.integration


def test_cli_verbs_and_json_match_the_api(service: JoingateService) -> None:
    req_id = service.cli("request", "add", "--authority", "Beijing PSB", "--jurisdiction", "cn",
                         "--reference", "BJ-0604", "--room", "June4-A", "--room", "june4-b",
                         "--demand", "end the meetings").stdout.strip()
    assert req_id.isdigit()
    rid = service.cli("restrict", "add", "--room", "june4-a", "--country", "CN",
                      "--request", req_id, "--reason", "order BJ-0604").stdout.strip()
    assert rid.isdigit()
    cli_doc = json.loads(service.cli("restrict", "list", "--json").stdout)
    assert cli_doc == service.api("GET", "/v1/restrictions")[1]
    assert json.loads(service.cli("request", "list", "--json").stdout) == \
        service.api("GET", "/v1/requests")[1]
    decided = json.loads(service.cli("request", "decide", req_id, "--outcome", "partially",
                                     "--note", "mainland only", "--json").stdout)
    assert decided["outcome"] == "partially" and decided["restrictions"] == [int(rid)]
    wait_until(lambda: service.authorize("june4-a", address("CN"))["decision"] == "deny",
               what="the CLI's restriction to reach the service")
    check = json.loads(service.cli("check", "--room", "June4-A", "--ip", address("CN"),
                                   "--json").stdout)
    assert check["decision"] == "deny" and check["restriction"] == int(rid)
    assert "allow" in service.cli("check", "--room", "june4-a", "--ip", address("HK")).stdout
    assert service.cli("geoip", "lookup", address("TW")).stdout.strip() == "TW"
    assert service.cli("geoip", "lookup", "127.0.0.1").stdout.strip() == "unknown"
    info = json.loads(service.cli("geoip", "info", "--json").stdout)
    assert info["database_type"] == "GeoLite2-Country"
    verified = service.cli("audit", "verify")
    assert "intact" in verified.stdout
    service.cli("restrict", "revoke", rid, "--reason", "lifted")
    assert json.loads(service.cli("restrict", "list", "--json").stdout)[
        "restrictions"][0]["state"] == "revoked"


@pytest.mark.parametrize(("args", "field"), [
    (["restrict", "add", "--room", "a", "--country", "ZZ", "--reason", "r"], "countries"),
    (["restrict", "add", "--room", "a", "--country", "CN", "--reason", "r",
      "--end", "2001-01-01T00:00:00Z"], "ends_at"),
    (["restrict", "add", "--room", "a", "--country", "CN", "--reason", "r",
      "--start", "yesterday"], "starts_at"),
    (["restrict", "add", "--room", "a", "--country", "CN", "--reason", "r",
      "--request", "42"], "request"),
    (["request", "add", "--authority", "x", "--jurisdiction", "China", "--reference", "r",
      "--room", "a", "--demand", "d"], "jurisdiction"),
    (["check", "--room", "a", "--ip", "999.1.1.1"], "ip"),
])
def test_cli_bad_input_exits_2_naming_the_field(service: JoingateService, args: list[str],
                                                field: str) -> None:
    result = service.cli(*args, check=False)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"joingate: {field}:"), result.stderr
    assert json.loads(service.cli("restrict", "list", "--json").stdout) == {"restrictions": []}


def test_cli_outside_jurisdiction_exits_2(service: JoingateService) -> None:
    req = service.cli("request", "add", "--authority", "x", "--jurisdiction", "CN",
                      "--reference", "r", "--room", "a", "--demand", "d").stdout.strip()
    result = service.cli("restrict", "add", "--room", "a", "--country", "CN", "--country", "TW",
                         "--request", req, "--reason", "r", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("joingate: countries:") and "TW" in result.stderr


def test_cli_failures_exit_1(service: JoingateService) -> None:
    result = service.cli("restrict", "revoke", "9", "--reason", "x", check=False)
    assert result.returncode == 1 and "no restriction 9" in result.stderr
    dup = service.cli("token", "create", "--name", "plugin", "--scope", "plugin", check=False)
    assert dup.returncode == 1 and "exists" in dup.stderr
    usage = service.cli("token", "create", "--name", "x", "--scope", "root", check=False)
    assert usage.returncode == 2
