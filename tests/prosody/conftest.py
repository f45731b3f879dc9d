"""Fixtures for the real-Prosody tests of mod_joingate.

JOINGATE_PROSODY picks the Prosody (joingate/testing/prosody_install.py): 0.12, this machine's,
or 13 from the folder scripts/prosody13.sh makes. The version that really ran is the JUnit test
suite's property "prosody" (scripts/check_suites.py requires a run on each). Nothing here is
skipped: without the chosen Prosody every test in this directory fails saying what to install.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from joingate.testing.geodb import write_test_mmdb
from joingate.testing.prosody import DISABLED, READY, LuaValue, ProsodyServer
from joingate.testing.prosody_install import ProsodyInstall
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import BoshParticipant, Participant, WebsocketParticipant
from tests.prosody import PLUGIN_PATHS


def pytest_report_header() -> str:
    install = ProsodyInstall.from_env()
    return f"prosody: {install.name} ({install.root or 'this machine'})"


@pytest.fixture(scope="session")
def prosody_install() -> ProsodyInstall:
    install = ProsodyInstall.from_env()
    problem = install.problem()
    if problem:
        pytest.fail(f"{problem}: the plugin tests cannot run", pytrace=False)
    return install


@pytest.fixture(scope="session")
def prosody_version(prosody_install: ProsodyInstall) -> str:
    return prosody_install.version()


@pytest.fixture(scope="session", autouse=True)
def _record_prosody_version(prosody_version: str,
                            record_testsuite_property: Callable[[str, object], None]) -> None:
    record_testsuite_property("prosody", prosody_version)


@pytest.fixture(scope="session")
def geodb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_mmdb(tmp_path_factory.mktemp("geo") / "test-country.mmdb")


@pytest.fixture
def service(tmp_path: Path, geodb: Path) -> Iterator[JoingateService]:
    with JoingateService(tmp_path / "joingate", geoip=geodb, unknown="allow") as svc:
        yield svc


ProsodyFactory = Callable[..., ProsodyServer]


@pytest.fixture
def make_prosody(tmp_path: Path,
                 prosody_install: ProsodyInstall) -> Iterator[ProsodyFactory]:
    """make_prosody(url, token, **joingate_options) -> a started Prosody with the plugin."""
    servers: list[ProsodyServer] = []

    def make(url: str | None, token: str | None = None, *,
             trusted_proxies: tuple[str, ...] = ("127.0.0.2",), start: bool = True,
             muc_options: dict[str, LuaValue] | None = None,
             muc_modules: tuple[str, ...] = (), jitsi_rooms: bool = False,
             **options: LuaValue) -> ProsodyServer:
        joingate: dict[str, LuaValue] = {}
        if url is not None:
            joingate["joingate_url"] = url
        if token is not None:
            joingate["joingate_token"] = token
        joingate.setdefault("joingate_poll_wait", 2)
        # On a busy machine the service can take longer than the 0.3 s default to answer;
        # the tests of the timeout itself (test_fail_modes.py) set theirs.
        joingate.setdefault("joingate_timeout", 5)
        for key, value in options.items():
            joingate[f"joingate_{key}"] = value
        server = ProsodyServer(tmp_path / f"prosody{len(servers)}", joingate=joingate,
                               trusted_proxies=trusted_proxies,
                               ready_text=READY if url is not None else DISABLED,
                               muc_options=muc_options, muc_modules=muc_modules,
                               jitsi_rooms=jitsi_rooms, install=prosody_install,
                               plugin_paths=PLUGIN_PATHS)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def prosody(service: JoingateService, make_prosody: ProsodyFactory) -> ProsodyServer:
    """Prosody with the plugin pointed at the real service, its feed connected."""
    server = make_prosody(service.url, service.plugin_token)
    server.wait_for_log("joingate enforcement feed connected")
    return server


class Crowd:
    """Participants made by one test; all of them are disconnected at teardown."""

    def __init__(self) -> None:
        self.clients: list[Participant] = []
        self.bosh_clients: list[BoshParticipant] = []
        self.ws_clients: list[WebsocketParticipant] = []

    async def connect(self, server: ProsodyServer, *addresses: str) -> list[Participant]:
        out = []
        for address in addresses:
            p = Participant(server.c2s_port, address, domain=server.domain)
            self.clients.append(p)
            await p.connect()
            out.append(p)
        return out

    async def account(self, server: ProsodyServer, address: str, jid: str,
                      muc_domain: str | None = None) -> Participant:
        """A participant logged in with an account (e.g. focus@auth.localhost), joining rooms on
        `muc_domain` (default: the server's own)."""
        p = Participant(server.c2s_port, address, jid=jid,
                        muc_domain=muc_domain or server.muc_domain)
        self.clients.append(p)
        await p.connect()
        return p

    async def bosh(self, server: ProsodyServer, source_ip: str,
                   forwarded_for: str | None = None) -> BoshParticipant:
        b = BoshParticipant(server.bosh_url, source_ip, forwarded_for)
        self.bosh_clients.append(b)
        await b.connect()
        return b

    async def websocket(self, server: ProsodyServer, source_ip: str,
                        forwarded_for: str | None = None) -> WebsocketParticipant:
        w = WebsocketParticipant(server.websocket_url, source_ip, forwarded_for,
                                 domain=server.domain)
        self.ws_clients.append(w)
        await w.connect()
        return w

    async def close(self) -> None:
        for w in self.ws_clients:
            await w.close()
        for p in self.clients:
            await p.disconnect()
        for b in self.bosh_clients:
            await b.close()


@pytest.fixture
async def crowd() -> AsyncIterator[Crowd]:
    c = Crowd()
    yield c
    await c.close()
