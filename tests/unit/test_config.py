"""joingate.config: defaults, TOML file, environment overrides, refusals naming the key, docs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from joingate.config import SETTINGS, Settings, load_settings, settings_doc
from joingate.errors import InvalidInput

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "joingate.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "joingate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(field: str, path: Path | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(InvalidInput) as info:
        load_settings(path, environ={} if environ is None else environ)
    assert info.value.field == field
    assert field in info.value.message
    return info.value.message


def test_defaults_with_no_file() -> None:
    s = load_settings(None, environ={})
    assert s.source == "defaults"
    assert s.server_listen == "127.0.0.1:8750"
    assert s.listen_host_port == ("127.0.0.1", 8750)
    assert s.store_url == "sqlite:///joingate.db"
    assert s.geoip_database == "builtin"
    assert s.geoip_unknown == "allow"
    assert s.geoip_cache_size == 65536
    for setting in SETTINGS:
        assert getattr(s, f"{setting.section}_{setting.key}") == setting.default


def test_every_setting_has_a_field_and_help() -> None:
    fields = {f for f in Settings.__dataclass_fields__ if f != "source"}
    assert fields == {f"{s.section}_{s.key}" for s in SETTINGS}
    for setting in SETTINGS:
        assert setting.help.strip()
        assert setting.env == f"JOINGATE_{setting.section.upper()}_{setting.key.upper()}"
        if setting.choices:
            assert setting.default in setting.choices
    assert [row[0] for row in settings_doc()] == [s.name for s in SETTINGS]


def test_file_values(tmp_path: Path) -> None:
    path = write(tmp_path, """
[server]
listen = "0.0.0.0:9000"
enforcement_max_wait = 30
[store]
url = "postgresql://joingate@db/joingate"
[geoip]
database = "/var/lib/geoip/country.mmdb"
unknown = "deny"
cache_size = 1024
reload_interval = 0
""")
    s = load_settings(path, environ={})
    assert s.source == str(path)
    assert s.listen_host_port == ("0.0.0.0", 9000)
    assert s.server_enforcement_max_wait == 30.0
    assert isinstance(s.server_enforcement_max_wait, float)
    assert s.store_url == "postgresql://joingate@db/joingate"
    assert s.geoip_database == "/var/lib/geoip/country.mmdb"
    assert s.geoip_unknown == "deny"
    assert s.geoip_cache_size == 1024
    assert s.geoip_reload_interval == 0.0
    assert s.counts_flush_interval == 10.0  # not in the file: default


def test_trusted_proxies(tmp_path: Path) -> None:
    assert load_settings(None, environ={}).trusted_proxy_networks == ()
    listed = load_settings(write(tmp_path, '[server]\ntrusted_proxies = ["10.0.0.0/8", '
                                            '"::1"]\n'), environ={})
    assert [str(n) for n in listed.trusted_proxy_networks] == ["10.0.0.0/8", "::1/128"]
    from_env = load_settings(None, environ={
        "JOINGATE_SERVER_TRUSTED_PROXIES": "127.0.0.1, 192.0.2.0/24 2001:db8::/32"})
    assert [str(n) for n in from_env.trusted_proxy_networks] == [
        "127.0.0.1/32", "192.0.2.0/24", "2001:db8::/32"]
    refused("server.trusted_proxies", environ={"JOINGATE_SERVER_TRUSTED_PROXIES": "nginx"})


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), environ={})
    assert s.server_listen == "127.0.0.1:8750"


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[geoip]\nunknown = "deny"\n')
    s = load_settings(None, environ={"JOINGATE_CONFIG": str(path)})
    assert s.geoip_unknown == "deny"
    assert s.source == str(path)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[geoip]\nunknown = "deny"\ncache_size = 10\n'
                           '[server]\nlisten = "127.0.0.1:9000"\n')
    s = load_settings(path, environ={
        "JOINGATE_GEOIP_UNKNOWN": "allow",
        "JOINGATE_GEOIP_CACHE_SIZE": "20",
        "JOINGATE_STORE_POLL_INTERVAL": "0.5",
        "JOINGATE_SERVER_LISTEN": "[::1]:8751",
        "JOINGATE_UNRELATED": "x",
    })
    assert s.geoip_unknown == "allow"
    assert s.geoip_cache_size == 20
    assert s.store_poll_interval == 0.5
    assert s.listen_host_port == ("::1", 8751)
    assert s.server_listen == "[::1]:8751"


def test_environment_overrides_the_default_without_a_file() -> None:
    s = load_settings(None, environ={"JOINGATE_GEOIP_DATABASE": "/tmp/x.mmdb"})
    assert s.geoip_database == "/tmp/x.mmdb"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    refused("geoip.cachesize", write(tmp_path, "[geoip]\ncachesize = 5\n"))
    refused("bogus.key", write(tmp_path, '[bogus]\nkey = "x"\n'))


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    refused("geoip", write(tmp_path, 'geoip = "builtin"\n'))


@pytest.mark.parametrize(("text", "field"), [
    ('[geoip]\ncache_size = "many"\n', "geoip.cache_size"),
    ("[geoip]\ncache_size = true\n", "geoip.cache_size"),
    ("[geoip]\ncache_size = -1\n", "geoip.cache_size"),
    ("[geoip]\ncache_size = 1.5\n", "geoip.cache_size"),
    ('[geoip]\nreload_interval = "often"\n', "geoip.reload_interval"),
    ("[geoip]\nreload_interval = -5.0\n", "geoip.reload_interval"),
    ("[geoip]\nreload_interval = false\n", "geoip.reload_interval"),
    ("[geoip]\nreload_interval = nan\n", "geoip.reload_interval"),
    ("[geoip]\ndatabase = 5\n", "geoip.database"),
    ('[geoip]\nunknown = "maybe"\n', "geoip.unknown"),
    ('[geoip]\nunknown = "DENY"\n', "geoip.unknown"),
    ("[store]\nurl = []\n", "store.url"),
    ('[server]\nlisten = "localhost"\n', "server.listen"),
    ('[server]\nlisten = ":8750"\n', "server.listen"),
    ('[server]\nlisten = "127.0.0.1:"\n', "server.listen"),
    ('[server]\nlisten = "127.0.0.1:http"\n', "server.listen"),
    ('[server]\nlisten = "127.0.0.1:99999"\n', "server.listen"),
    ("[server]\nlisten = 8750\n", "server.listen"),
    ('[server]\ntrusted_proxies = "10.0.0.0/8, proxy.example"\n', "server.trusted_proxies"),
    ('[server]\ntrusted_proxies = ["10.0.0.1", 5]\n', "server.trusted_proxies"),
    ("[server]\ntrusted_proxies = 10\n", "server.trusted_proxies"),
])
def test_bad_file_value_is_named(tmp_path: Path, text: str, field: str) -> None:
    refused(field, write(tmp_path, text))


@pytest.mark.parametrize(("env", "field"), [
    ({"JOINGATE_GEOIP_CACHE_SIZE": "lots"}, "geoip.cache_size"),
    ({"JOINGATE_GEOIP_CACHE_SIZE": "1.5"}, "geoip.cache_size"),
    ({"JOINGATE_GEOIP_UNKNOWN": "block"}, "geoip.unknown"),
    ({"JOINGATE_COUNTS_FLUSH_INTERVAL": "-1"}, "counts.flush_interval"),
    ({"JOINGATE_SERVER_LISTEN": "8750"}, "server.listen"),
])
def test_bad_environment_value_is_named(env: dict[str, str], field: str) -> None:
    refused(field, environ=env)


def test_environment_value_is_checked_even_if_the_file_is_good(tmp_path: Path) -> None:
    path = write(tmp_path, '[geoip]\nunknown = "deny"\n')
    refused("geoip.unknown", path, {"JOINGATE_GEOIP_UNKNOWN": "sometimes"})


def test_missing_config_file(tmp_path: Path) -> None:
    refused("config", tmp_path / "absent.toml")
    refused("config", environ={"JOINGATE_CONFIG": str(tmp_path / "absent.toml")})


def test_invalid_toml(tmp_path: Path) -> None:
    message = refused("config", write(tmp_path, "[geoip\nunknown = deny\n"))
    assert "TOML" in message


# -- docs: every setting is documented in the example config -----------------------------------

def _documented_keys(text: str) -> set[tuple[str, str]]:
    """(section, key) of every `key = value` line, commented out or not, under its [section]."""
    found: set[tuple[str, str]] = set()
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\s*#?\s*\[([A-Za-z0-9_]+)\]\s*(#.*)?$", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^\s*#?\s*([A-Za-z0-9_]+)\s*=", line)
        if key and section:
            found.add((section, key.group(1)))
    return found


def test_every_setting_is_in_the_example_config() -> None:
    assert EXAMPLE.is_file(), f"{EXAMPLE.relative_to(REPO)} is missing"
    text = EXAMPLE.read_text(encoding="utf-8")
    documented = _documented_keys(text)
    missing = [s.name for s in SETTINGS if (s.section, s.key) not in documented]
    assert not missing, f"not in {EXAMPLE.name}: {', '.join(missing)}"
    unknown = documented - {(s.section, s.key) for s in SETTINGS}
    assert not unknown, f"{EXAMPLE.name} documents unknown settings: {sorted(unknown)}"


def test_example_config_loads() -> None:
    assert EXAMPLE.is_file(), f"{EXAMPLE.relative_to(REPO)} is missing"
    tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    load_settings(EXAMPLE, environ={})
