"""The plugin's pure helper under Prosody's own interpreter (the chosen install's), and luacheck
over the plugin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.rooms import canonical_room, jitsi_node, join_key
from joingate.testing.prosody import PLUGIN_DIR
from joingate.testing.prosody_install import ProsodyInstall

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

HERE = PLUGIN_DIR.parents[1] / "tests" / "prosody" / "lua"


@pytest.mark.parametrize("interpreter", ["lua5.4"])
def test_helper_unit_tests(interpreter: str, prosody_install: ProsodyInstall) -> None:
    if prosody_install.root is None and shutil.which(interpreter) is None:
        pytest.fail(f"{interpreter} is missing (it comes with Debian's prosody package)")
    path = prosody_install.path
    result = subprocess.run(prosody_install.argv(interpreter,
                                                 path(HERE / "test_joingate_util.lua"),
                                                 path(PLUGIN_DIR / "joingate_util.lib.lua")),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failures" in result.stdout


def test_luacheck_clean() -> None:
    luacheck = shutil.which("luacheck")
    if luacheck is None:
        pytest.fail("luacheck is missing: apt-get install lua-check")
    # The command the plugin README gives, from the checkout's root.
    result = subprocess.run([luacheck, "--formatter", "plain", "plugins/prosody"],
                            cwd=PLUGIN_DIR.parents[1], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # The test stand-ins for Jitsi's modules keep the same rules.
    result = subprocess.run([luacheck, "--formatter", "plain", "--config",
                             "plugins/prosody/.luacheckrc", "tests/prosody/modules"],
                            cwd=PLUGIN_DIR.parents[1], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _plugin_names(install: ProsodyInstall, jids: list[str]) -> list[str]:
    """The plugin's name for each room JID, by the chosen install's Lua."""
    result = subprocess.run(install.argv("lua5.4", install.path(HERE / "room_names.lua"),
                                         install.path(PLUGIN_DIR / "joingate_util.lib.lua")),
                            input="".join(j + "\n" for j in jids).encode(),
                            capture_output=True, timeout=60, check=True)
    return result.stdout.decode().split("\n")[:-1]


_seen = st.text(min_size=1, max_size=30).filter(
    lambda s: s == s.strip() and "/" not in s and not s.startswith("[")
    and not re.search(r"%[0-9a-fA-F]{2}|\\[0-9a-fA-F]{2}", s))
_tenant = st.one_of(st.none(), st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True))


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(_tenant, _seen), min_size=1, max_size=50))
@example([(None, "Café Vigil"), ("acme", "Café Vigil"), (None, "my meeting"),
          ("tenant", "room1"), (None, "CAFÉ")])
def test_the_plugin_computes_the_services_canonical_name(
        prosody_install: ProsodyInstall, names: list[tuple[str | None, str]]) -> None:
    """For the node Jitsi's client makes from a name people see (behind a tenant or not), the
    plugin's name for the room is byte for byte the service's canonical name of that name."""
    cases = []
    for tenant, seen in names:
        try:
            expected = canonical_room(seen if tenant is None else f"{tenant}/{seen}")
        except InvalidInput:
            continue  # not a name Jitsi can produce (tests/property/test_rooms.py)
        node = jitsi_node(seen)
        cases.append((f"{node if tenant is None else f'[{tenant}]{node}'}@conference.example",
                      expected))
    assert _plugin_names(prosody_install, [jid for jid, _ in cases]) == [
        want for _, want in cases]


_node = st.text(alphabet=st.characters(exclude_characters="@/\n\r", exclude_categories=["Cs"]),
                min_size=1, max_size=20)


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(st.lists(_node, min_size=1, max_size=50, unique_by=str.lower))
@example(["[tenant]room1", "tenant\\2froom1", "caf%c3%a9", "café", "[acme]x", "%5bacme%5dx"])
def test_the_plugin_and_the_service_key_any_node_alike_and_apart(
        prosody_install: ProsodyInstall, nodes: list[str]) -> None:
    """Any Prosody room node, even one Jitsi's client never makes: the plugin's name is
    /v1/authorize's key for it, and two different nodes never get one name."""
    names = _plugin_names(prosody_install, [f"{n}@conference.example" for n in nodes])
    assert names == [join_key(n) for n in nodes]
    assert len(set(names)) == len(nodes)


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
                          st.text(st.characters(exclude_categories=["Cs"]), max_size=20)),
                min_size=1, max_size=50))
@example([("june4", "192.0.2.1"), ('a"b\\c', "2001:db8::1"),
          ("caf\u00e9\n\x00\x7f", "fe80::1%eth0"), ("acme/room", '"},{"room":"x')])
def test_the_sweeps_batch_body_is_the_json_of_its_checks(
        prosody_install: ProsodyInstall, checks: list[tuple[str, str]]) -> None:
    """The sweep writes its /v1/authorize/batch bodies as text, not through util.json: for any
    room name and address (quotes, backslashes, control characters, non-ASCII), the body is
    JSON that decodes to exactly that check."""
    lines = "".join(f"{room.encode().hex()}\n{ip.encode().hex()}\n" for room, ip in checks)
    result = subprocess.run(prosody_install.argv(
        "lua5.4", prosody_install.path(HERE / "json_text.lua"),
        prosody_install.path(PLUGIN_DIR / "joingate_util.lib.lua")),
        input=lines.encode(), capture_output=True, timeout=60, check=True)
    bodies = [json.loads(line) for line in result.stdout.decode().split("\n")[:-1]]
    assert bodies == [{"purpose": "sweep", "checks": [{"room": room, "ip": ip}]}
                      for room, ip in checks]
