"""The operator README's configuration lines, loaded as written into a real Prosody.

Debian Jitsi: the README's cfg.lua block (global options, the joingate module on the conference,
breakout and lobby components). docker-jitsi-meet: the README's `.env` lines turned into Prosody
configuration the way the image's templates do (each XMPP_*_MUC_MODULES item a module on its
component, GLOBAL_CONFIG split on a literal backslash-n at the end of the main config). Each
component must report the gate active, and the breakout and lobby components must know their
main MUC from Jitsi's own VirtualHost lines. Visitor nodes: the README's lines for Debian's
visitor-node file and docker-jitsi-meet's visitor containers, inside the settings Jitsi's own
visitor-node configurations already have (main_domain above all): the gate must be active on the
node's MUC and know the main deployment's domain.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from joingate.testing.prosody import PLUGIN_DIR, ProsodyServer
from joingate.testing.service import JoingateService

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

README = (PLUGIN_DIR / "README.md").read_text()


def fenced_blocks(section: str, language: str) -> list[str]:
    """The ```language blocks of one `## section` of the README."""
    start = README.index(f"## {section}")
    end = README.find("\n## ", start + 1)
    text = README[start:end if end != -1 else None]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


class ConfiguredProsody(ProsodyServer):
    """The harness's global settings (ports, paths, logging), then the given host lines."""

    def __init__(self, workdir: Path, hosts: str, ready_text: str) -> None:
        super().__init__(workdir, joingate={}, ready_text=ready_text)
        self.hosts = hosts

    def config_text(self) -> str:
        base = super().config_text()
        # The README sets plugin_paths itself (a second assignment is a config error).
        base = "\n".join(line for line in base[:base.index("\nVirtualHost ")].splitlines()
                         if not line.startswith("plugin_paths"))
        # The plugin's folder as the Prosody under test sees it (Prosody 13 runs in a chroot).
        return base + "\n" + self.hosts.replace(str(PLUGIN_DIR), self.install.path(PLUGIN_DIR))


def with_local_service(block: str, service: JoingateService) -> str:
    """A README block pointed at this test's plugin directory and service."""
    return (block.replace("/usr/local/lib/joingate/prosody", str(PLUGIN_DIR))
            .replace("http://127.0.0.1:8750", service.url)
            .replace("http://joingate:8750", service.url)
            .replace("PASTE-THE-PLUGIN-TOKEN", service.plugin_token))


def docker_env(service: JoingateService) -> dict[str, str]:
    """The README's docker-jitsi-meet .env lines, GLOBAL_CONFIG pointed at this test's service."""
    (block,) = [b for b in fenced_blocks("Install with docker-jitsi-meet", "sh")
                if "XMPP_MUC_MODULES" in b]
    env = dict(line.split("=", 1) for line in block.splitlines()
               if line and not line.startswith("#"))
    env["GLOBAL_CONFIG"] = with_local_service(env["GLOBAL_CONFIG"], service)
    return env


def debian_config(service: JoingateService) -> str:
    (block,) = [b for b in fenced_blocks("Install on a Debian Jitsi Meet server", "lua")
                if 'Component "conference.' in b]
    block = with_local_service(block, service)
    # Jitsi's own VirtualHost lines, as jitsi-meet-prosody writes them.
    return block + '''
VirtualHost "meet.example.org"
    authentication = "anonymous"
    main_muc = "conference.meet.example.org"
    breakout_rooms_muc = "breakout.meet.example.org"
    lobby_muc = "lobby.meet.example.org"
'''


def docker_config(service: JoingateService) -> str:
    env = docker_env(service)
    global_config = env["GLOBAL_CONFIG"]

    def component(host: str, variable: str) -> str:
        modules = "".join(f'        "{m}";\n' for m in env[variable].split(",") if m)
        return (f'Component "{host}" "muc"\n    storage = "memory"\n'
                f"    modules_enabled = {{\n{modules}    }}\n")

    # The shape of the image's jitsi-meet.cfg.lua: main_muc, breakout_rooms_muc and lobby_muc
    # on the VirtualHost, the three MUC components with their *_MUC_MODULES, and GLOBAL_CONFIG
    # appended to the main configuration, one line per literal "\n".
    return (f'plugin_paths = {{ "{PLUGIN_DIR}" }}\n'
            + "\n".join(global_config.split("\\n")) + "\n"
            + '''VirtualHost "meet.jitsi"
    authentication = "anonymous"
    main_muc = "muc.meet.jitsi"
    lobby_muc = "lobby.meet.jitsi"
    breakout_rooms_muc = "breakout.meet.jitsi"
'''
            + component("muc.meet.jitsi", "XMPP_MUC_MODULES")
            + component("lobby.meet.jitsi", "XMPP_LOBBY_MUC_MODULES")
            + component("breakout.meet.jitsi", "XMPP_BREAKOUT_MUC_MODULES"))


@pytest.mark.parametrize(("kind", "domain", "main"), [
    ("debian", "meet.example.org", "conference.meet.example.org"),
    ("docker", "meet.jitsi", "muc.meet.jitsi"),
])
def test_readme_lines_gate_every_component(service: JoingateService, tmp_path: Path,
                                           kind: str, domain: str, main: str) -> None:
    hosts = debian_config(service) if kind == "debian" else docker_config(service)
    server = ConfiguredProsody(tmp_path / kind, hosts, ready_text="joingate enforcement feed")
    with server:
        for component in (main, f"breakout.{domain}", f"lobby.{domain}"):
            server.wait_for_log(f"joingate gate active on {component}")
        for component in (f"breakout.{domain}", f"lobby.{domain}"):
            server.wait_for_log(f"rooms on {component} count as meetings of {main}")
        assert f"rooms on {main} count" not in server.log()
        assert "DISABLED" not in server.log()
        errors = [line for line in server.log().splitlines() if ":joingate\terror" in line]
        assert not errors, errors


def debian_visitor_node(service: JoingateService) -> str:
    (block,) = [b for b in fenced_blocks("Visitor nodes", "lua") if "Component 'conference.v1" in b]
    block = with_local_service(block, service)
    # The lines of jitsi-meet's prosody.cfg.lua.visitor.template that matter here, as its
    # pre-configure.sh writes them for node 1 of meet.example.org.
    return ("muc_mapper_domain_base = 'v1.meet.jitsi';\nmain_domain = 'meet.example.org';\n"
            + block + "\nVirtualHost 'v1.meet.jitsi'\n    authentication = 'anonymous'\n")


def docker_visitor_node(service: JoingateService) -> str:
    env = docker_env(service)
    global_config = env["GLOBAL_CONFIG"]
    modules = "".join(f'        "{m}";\n' for m in env["XMPP_MUC_MODULES"].split(",") if m)
    # prosody.cfg.lua ends with GLOBAL_CONFIG and then includes visitors.cfg.lua (node 0).
    return ("\n".join(global_config.split("\\n")) + "\n"
            + f'plugin_paths = {{ "{PLUGIN_DIR}" }}\n'
            + """muc_mapper_domain_base = "v0.meet.jitsi";
muc_mapper_domain_prefix = "muc";
main_domain = 'meet.jitsi';
VirtualHost 'v0.meet.jitsi'
    authentication = 'anonymous'
    main_muc = 'muc.v0.meet.jitsi';
Component 'muc.v0.meet.jitsi' 'muc'
    storage = 'memory'
    modules_enabled = {
"""
            + modules + "    }\n")


@pytest.mark.parametrize(("kind", "component", "main_domain"), [
    ("debian", "conference.v1.meet.jitsi", "meet.example.org"),
    ("docker", "muc.v0.meet.jitsi", "meet.jitsi"),
])
def test_readme_lines_gate_visitor_nodes(service: JoingateService, tmp_path: Path,
                                         kind: str, component: str, main_domain: str) -> None:
    hosts = debian_visitor_node(service) if kind == "debian" else docker_visitor_node(service)
    server = ConfiguredProsody(tmp_path / kind, hosts, ready_text="joingate enforcement feed")
    with server:
        server.wait_for_log(f"joingate gate active on {component}")
        server.wait_for_log(f"joingate: visitor node of {main_domain};")
        errors = [line for line in server.log().splitlines() if ":joingate\terror" in line]
        assert not errors, errors
