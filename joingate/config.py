"""TOML config → typed settings.

One table (`SETTINGS`) names every setting with its default and a help line. A value comes from
the environment (`JOINGATE_<SECTION>_<KEY>`), then the TOML file, then the default. Bad values
fail at start-up with an error naming the key, never on first use.
"""

from __future__ import annotations

import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .note import valid_name
from .vocabulary import Decision, values

IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float = 0.0
    listed: bool = False  # a comma-separated string that a TOML list of strings may give

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env(self) -> str:
        return f"JOINGATE_{self.section.upper()}_{self.key.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("server", "listen", "127.0.0.1:8750", "host:port the HTTP API listens on"),
    Setting("server", "enforcement_max_wait", 60.0,
            "longest a GET /v1/enforcement long-poll is held open, in seconds", minimum=1.0),
    Setting("server", "trusted_proxies", "",
            "addresses or networks (comma-separated, or a TOML list) of the reverse proxies "
            "in front of the service: only from them are X-Forwarded-For (the admin's "
            "address, for the sign-in limiter) and X-Forwarded-Proto (Secure cookies) "
            "believed; empty: none", listed=True),
    Setting("server", "max_connections", 4096,
            "open HTTP connections at most (and at least 192 under the open-file limit); when "
            "full, idle ones are closed first", minimum=1),
    Setting("server", "receive_timeout", 10.0,
            "seconds a client has to send a whole request, head and body, from its first "
            "byte (from connecting, for the first request)", minimum=0.1),
    Setting("server", "keepalive_timeout", 75.0,
            "seconds a connection may stay idle between requests", minimum=0.1),
    Setting("store", "url", "sqlite:///joingate.db",
            "sqlite:///relative.db (next to where joingate runs), sqlite:////absolute/path.db "
            "or postgresql://user@host/dbname"),
    Setting("store", "poll_interval", 0.25,
            "seconds between checks for changes written by other processes (e.g. the CLI)",
            minimum=0.01),
    Setting("geoip", "database", "builtin",
            "'builtin' (the DB in seeds/geoip) or the path of a MaxMind-format country .mmdb"),
    Setting("geoip", "unknown", Decision.ALLOW.value,
            "what an address the DB cannot place gets in a restricted meeting: "
            + " | ".join(values(Decision)),
            choices=tuple(values(Decision))),
    Setting("geoip", "cache_size", 65536, "addresses kept in the in-memory lookup cache",
            minimum=1),
    Setting("geoip", "reload_interval", 5.0,
            "seconds between checks of the DB file for a replacement (0 turns reloading off)"),
    Setting("geoip", "max_age", 45.0,
            "days after its build date past which the DB is reported stale (readyz, admin page, "
            "geoip info)", minimum=1.0),
    Setting("geoip", "witness", "",
            "path of a second country .mmdb whose disagreement about a restricted country "
            "makes a verdict 'disputed' (empty: none)"),
    Setting("geoip", "disputed", Decision.ALLOW.value,
            "the decision when the two DBs disagree and either country is restricted in the "
            "meeting: " + " | ".join(values(Decision)), choices=tuple(values(Decision))),
    Setting("geoip", "update_url", "",
            "where `joingate geoip update` downloads from ({YYYY} and {MM} expanded; a .gz is "
            "unpacked); empty: DB-IP's monthly IP-to-Country Lite, or MaxMind GeoLite2 Country "
            "when maxmind_account_id and maxmind_license_key are set"),
    Setting("geoip", "maxmind_account_id", "", "MaxMind account id, for GeoLite2 downloads"),
    Setting("geoip", "maxmind_license_key", "", "MaxMind licence key, for GeoLite2 downloads"),
    Setting("counts", "flush_interval", 10.0,
            "seconds between writes of the decision counters to the store", minimum=0.1),
    Setting("census", "max_sources", 32,
            "Prosody hosts (census sources) kept at once; a new one past this is refused (409) "
            "until another falls silent for 10 minutes", minimum=1),
    Setting("census", "max_rooms", 5000,
            "meetings one census report may list (more is refused: 400, field rooms)",
            minimum=1),
    Setting("audit", "checkpoint_interval", 3600.0,
            "seconds between audit-log checkpoints (Merkle tree size and root, signed with "
            "signing_key) the report publishes", minimum=1.0),
    Setting("audit", "signing_key", "",
            "file holding the Ed25519 key that signs the checkpoints (made by `joingate audit "
            "key create`); empty: checkpoints are recorded unsigned and reports say so"),
    Setting("audit", "origin", "",
            "the log's name, the first line of every signed checkpoint (no spaces, no '+'); "
            "empty: joingate/<this host's name>. Instances sharing one database must set "
            "the same"),
)


def _coerce(setting: Setting, raw: Any) -> Any:
    """Turn a TOML or environment value into the setting's type, or raise naming the key."""
    want = type(setting.default)
    try:
        if want is bool:
            value: Any = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        elif want is int:
            if isinstance(raw, bool | float):
                raise ValueError
            value = int(raw)
        elif want is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        else:
            if setting.listed and isinstance(raw, list) and \
                    all(isinstance(item, str) for item in raw):
                raw = ",".join(raw)
            if not isinstance(raw, str):
                raise ValueError
            value = raw
    except (TypeError, ValueError):
        raise InvalidInput(f"{setting.name}: expected {want.__name__}, got {raw!r}",
                           field=setting.name) from None
    if setting.choices and value not in setting.choices:
        raise InvalidInput(f"{setting.name}: must be one of {', '.join(setting.choices)}",
                           field=setting.name)
    if isinstance(value, int | float) and not isinstance(value, bool) and \
            value < setting.minimum:
        raise InvalidInput(f"{setting.name}: must be at least {setting.minimum:g}",
                           field=setting.name)
    return value


@dataclass(frozen=True)
class Settings:
    server_listen: str
    server_enforcement_max_wait: float
    server_trusted_proxies: str
    server_max_connections: int
    server_receive_timeout: float
    server_keepalive_timeout: float
    store_url: str
    store_poll_interval: float
    geoip_database: str
    geoip_unknown: str
    geoip_cache_size: int
    geoip_reload_interval: float
    geoip_max_age: float
    geoip_witness: str
    geoip_disputed: str
    geoip_update_url: str
    geoip_maxmind_account_id: str
    geoip_maxmind_license_key: str
    counts_flush_interval: float
    census_max_sources: int
    census_max_rooms: int
    audit_checkpoint_interval: float
    audit_signing_key: str
    audit_origin: str
    source: str = "defaults"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, sep, port = self.server_listen.rpartition(":")
        if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
            raise InvalidInput("server.listen: expected host:port", field="server.listen")
        return host.strip("[]"), int(port)

    @property
    def origin(self) -> str:
        """audit.origin, or joingate/<host name> when it is empty."""
        origin = self.audit_origin or f"joingate/{socket.gethostname()}"
        if not valid_name(origin):
            raise InvalidInput(f"audit.origin: {origin!r} must be non-empty, without spaces "
                               "or '+'", field="audit.origin")
        return origin

    @cached_property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        networks = []
        for item in self.server_trusted_proxies.replace(",", " ").split():
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise InvalidInput(f"server.trusted_proxies: {item!r} is not an address or "
                                   "network", field="server.trusted_proxies") from None
        return tuple(networks)


def load_settings(path: str | Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (or $JOINGATE_CONFIG), the environment, and the defaults."""
    env = os.environ if environ is None else environ
    path = path or env.get("JOINGATE_CONFIG") or None
    table: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh)
        except FileNotFoundError:
            raise InvalidInput(f"config: no such file {path}", field="config") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"config: {path} is not valid TOML: {exc}", field="config") from None
    known = {(s.section, s.key) for s in SETTINGS}
    for section, entries in table.items():
        if not isinstance(entries, dict):
            raise InvalidInput(f"config: [{section}] must be a table", field=section)
        for key in entries:
            if (section, key) not in known:
                raise InvalidInput(f"config: unknown setting {section}.{key}",
                                   field=f"{section}.{key}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw: Any = setting.default
        if setting.key in table.get(setting.section, {}):
            raw = table[setting.section][setting.key]
        if setting.env in env:
            raw = env[setting.env]
        values[f"{setting.section}_{setting.key}"] = _coerce(setting, raw)
    settings = Settings(**values, source=str(path) if path else "defaults")
    settings.listen_host_port  # noqa: B018 - validate now, not on first use
    settings.trusted_proxy_networks  # noqa: B018
    settings.origin  # noqa: B018
    return settings


def settings_doc() -> list[tuple[str, str, Any, str]]:
    """(name, env var, default, help) for every setting — used by `docs` and the docs test."""
    return [(s.name, s.env, s.default, s.help) for s in SETTINGS]

