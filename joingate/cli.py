"""The `joingate` command. Parses, calls the shared actions, renders; nothing more.

Exit codes: 0 ok; 2 bad input (one line naming the field); 1 any other failure.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from . import __version__, actions, logscrub
from .audit import AuditEntry, Checkpoint, verify, verify_checkpoint
from .config import Settings, load_settings
from .corrections import Correction
from .engine import DisputedVerdict, Engine, build_snapshot
from .errors import InvalidInput, JoingateError
from .geo import freshness, open_geoip
from .note import NoteError, parse_verifier
from .restrictions import Restriction, normalize_room, parse_id, utc_now
from .signing import LogTree, create_key, load_signing, rotate_key
from .store import Store, open_store
from .tlog import Published, check_extends, check_heads, read_published, unb64
from .vocabulary import UNDECIDED, Mode, ReportFormat, RequestOutcome, Scope, values

T = TypeVar("T")


def _fail(message: str, code: int) -> None:
    click.echo(f"joingate: {message}", err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """The one place the CLI maps the error tree to exit codes."""
    try:
        yield
    except InvalidInput as exc:
        _fail(exc.message, 2)
    except JoingateError as exc:
        _fail(exc.message, 1)


def _settings(config: str | None) -> Settings:
    with _errors():
        return load_settings(config)
    raise AssertionError("unreachable")


def _with_store(config: str | None, job: Callable[[Store], Awaitable[T]]) -> T:
    settings = _settings(config)

    async def run() -> T:
        store = open_store(settings.store_url)
        await store.open()
        try:
            return await job(store)
        finally:
            await store.close()

    with _errors():
        return asyncio.run(run())
    raise AssertionError("unreachable")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _id(field: str) -> Callable[[click.Context, click.Parameter, str | None], int | None]:
    """A click callback reading an id: ASCII digits only, refused in one line naming `field`
    (click's int would read full-width and Arabic-Indic digits too)."""
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return None
        with _errors():
            return parse_id(value, field)
        raise AssertionError("unreachable")
    return parse


config_option = click.option(
    "--config", "config", envvar="JOINGATE_CONFIG", type=click.Path(dir_okay=False),
    help="TOML config file (default: built-in defaults; env JOINGATE_CONFIG).")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the JSON document the HTTP API returns.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="joingate")
def main() -> None:
    """joingate: keep out only the participants a restriction covers."""
    logscrub.install()


# -- serve --------------------------------------------------------------------------------

@main.command()
@config_option
def serve(config: str | None) -> None:
    """Run the HTTP service."""
    from .api.server import serve as serve_app
    from .application import build_app
    from .runtime import Runtime

    settings = _settings(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s", force=True)
    host, port = settings.listen_host_port  # checked when the settings were read
    logscrub.install(keep=(host,))
    with _errors():
        runtime = Runtime(settings)
        info = runtime.geo.info()
        logging.getLogger("joingate").info(
            "GeoIP %s (%s, built %s); store %s; listening on %s:%d", info.path,
            info.database_type, info.as_json()["build_date"], settings.store_url, host, port)
        age = freshness(info, settings.geoip_max_age, time.time())
        if age["stale"]:
            logging.getLogger("joingate").warning(
                "the GeoIP database is %.0f days old, past geoip.max_age (%g): run joingate "
                "geoip update", age["age_days"], settings.geoip_max_age)
        serve_app(build_app(runtime), settings)


@main.command()
def demo() -> None:
    """Replay June 2020 on a local Prosody with the plugin (needs prosody, a checkout)."""
    from . import demo as demo_module

    with _errors():
        demo_module.run(click.echo)


# -- tokens -------------------------------------------------------------------------------

@main.group()
def token() -> None:
    """API tokens (only their hashes are stored)."""


@token.command("create")
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option("--scope", required=True, type=click.Choice(values(Scope)))
@config_option
def token_create(name: str, scope: str, config: str | None) -> None:
    """Create a token and print it (alone, once)."""
    value = "jg_" + secrets.token_urlsafe(32)
    _with_store(config, lambda s: actions.create_token(s, name, scope, _actor(), value))
    click.echo(value)


# -- restrictions -------------------------------------------------------------------------

@main.group()
def restrict() -> None:
    """Restrictions: which countries may not join which meetings, and when."""


@restrict.command("add")
@click.option("--room", "rooms", multiple=True, required=True,
              help="Meeting, as people see its name or as its room node; tenant/room for a "
                   "Jitsi tenant (repeat for several; '*' = all meetings, operator policy only).")
@click.option("--country", "countries", multiple=True, required=True,
              help="ISO 3166-1 alpha-2 code (repeat for several).")
@click.option("--start", "starts_at", help="ISO 8601 with offset; default now.")
@click.option("--end", "ends_at", help="ISO 8601 with offset; default open-ended.")
@click.option("--request", "request", callback=_id("request"),
              help="The authority request it answers.")
@click.option("--mode", type=click.Choice(values(Mode)), default=Mode.BLOCK.value,
              show_default=True)
@click.option("--reason", required=True)
@config_option
@json_option
def restrict_add(rooms: tuple[str, ...], countries: tuple[str, ...], starts_at: str | None,
                 ends_at: str | None, request: int | None, mode: str, reason: str,
                 config: str | None, as_json: bool) -> None:
    """Create a restriction; prints its id (or the object with --json)."""
    fields = {"rooms": list(rooms), "countries": list(countries), "starts_at": starts_at,
              "ends_at": ends_at, "request": request, "mode": mode, "reason": reason}
    made = _with_store(config, lambda s: actions.add_restriction(s, fields, _actor()))
    if as_json:
        _print_json(made.as_json(utc_now()))
    else:
        click.echo(made.id)
        click.echo(f"restriction {made.id}: {made.mode} {', '.join(made.countries)} in "
                   f"{', '.join(made.rooms)} ({made.as_json(utc_now())['state']})", err=True)


@restrict.command("list")
@config_option
@json_option
def restrict_list(config: str | None, as_json: bool) -> None:
    """List restrictions."""
    found = _with_store(config, lambda s: s.list_restrictions())
    now = utc_now()
    if as_json:
        _print_json({"restrictions": [r.as_json(now) for r in found]})
        return
    for r in found:
        end = r.as_json(now)["ends_at"] or "open-ended"
        click.echo(f"{r.id:>5}  {r.state(now):<9} {r.mode:<10} {','.join(r.countries):<12} "
                   f"{','.join(r.rooms)}  {r.as_json(now)['starts_at']} → {end}"
                   f"{f'  request {r.request}' if r.request else ''}")


@restrict.command("revoke")
@click.argument("restriction_id", metavar="ID", callback=_id("id"))
@click.option("--reason", required=True)
@config_option
@json_option
def restrict_revoke(restriction_id: int, reason: str, config: str | None,
                    as_json: bool) -> None:
    """Revoke a restriction (participants it kept out may join again)."""
    revoked = _with_store(config, lambda s: actions.revoke_restriction(
        s, restriction_id, reason, _actor()))
    if as_json:
        _print_json(revoked.as_json(utc_now()))
    else:
        click.echo(f"restriction {revoked.id} revoked")


# -- authority requests -------------------------------------------------------------------

@main.group()
def request() -> None:
    """Authority requests: recorded on receipt, decided, linked to their restrictions."""


@request.command("add")
@click.option("--authority", required=True, help="Who sent it.")
@click.option("--jurisdiction", required=True, help="ISO code of the authority's country.")
@click.option("--reference", required=True, help="The authority's reference.")
@click.option("--room", "rooms", multiple=True, required=True,
              help="Meeting named, as people see it or as its room node (repeat).")
@click.option("--demand", required=True, help="What was demanded, in its words.")
@click.option("--received", "received_at", help="When it arrived (ISO 8601); default now.")
@config_option
@json_option
def request_add(authority: str, jurisdiction: str, reference: str, rooms: tuple[str, ...],
                demand: str, received_at: str | None, config: str | None,
                as_json: bool) -> None:
    """Record an authority request; prints its id."""
    fields = {"authority": authority, "jurisdiction": jurisdiction, "reference": reference,
              "rooms": list(rooms), "demand": demand, "received_at": received_at}
    made = _with_store(config, lambda s: actions.add_request(s, fields, _actor()))
    if as_json:
        _print_json(made.as_json())
    else:
        click.echo(made.id)


@request.command("decide")
@click.argument("request_id", metavar="ID", callback=_id("id"))
@click.option("--outcome", required=True, type=click.Choice(values(RequestOutcome)))
@click.option("--note", required=True)
@config_option
@json_option
def request_decide(request_id: int, outcome: str, note: str, config: str | None,
                   as_json: bool) -> None:
    """Record the decision on a request."""
    decided = _with_store(config, lambda s: actions.decide_request(
        s, request_id, outcome, note, _actor()))
    if as_json:
        _print_json(decided.as_json())
    else:
        click.echo(f"request {decided.id}: {decided.outcome}")


@request.command("list")
@config_option
@json_option
def request_list(config: str | None, as_json: bool) -> None:
    """List authority requests."""
    found = _with_store(config, lambda s: s.list_requests())
    if as_json:
        _print_json({"requests": [r.as_json() for r in found]})
        return
    for r in found:
        data = r.as_json()
        made = ",".join(map(str, r.restrictions))
        click.echo(f"{r.id:>5}  {data['received_at']}  {r.jurisdiction}  {r.authority} "
                   f"[{r.reference}]  {','.join(r.rooms)}  {r.outcome or UNDECIDED}"
                   f"{'  restrictions ' + made if made else ''}")


# -- check / geoip / audit -----------------------------------------------------------------

@main.command()
@click.option("--room", required=True, help="Meeting, as people see it or as its room node.")
@click.option("--ip", required=True)
@config_option
@json_option
def check(room: str, ip: str, config: str | None, as_json: bool) -> None:
    """The decision the service would give now (not counted)."""
    settings = _settings(config)
    with _errors():
        geo = open_geoip(settings.geoip_database, 16, witness=settings.geoip_witness)

    async def load(store: Store) -> tuple[list[Restriction], list[Correction]]:
        return await store.list_restrictions(), await store.list_corrections()

    restrictions, corrections = _with_store(config, load)
    geo.set_corrections(corrections)
    engine = Engine(geo, settings.geoip_unknown, settings.geoip_disputed)
    now = datetime.now(UTC)
    engine.snapshot = build_snapshot(restrictions, now)
    with _errors():
        verdict = engine.decide(normalize_room(room, "room", allow_all=False), ip,
                                now.timestamp())
    if as_json:
        _print_json(verdict.as_json())
    else:
        where = verdict.country or "unknown location"
        if isinstance(verdict, DisputedVerdict):
            where += f", witness: {verdict.witness_country}"
        why = f" by restriction {verdict.restriction}" if verdict.restriction else ""
        click.echo(f"{verdict.decision} ({where}; {verdict.rule}{why})")
        if verdict.message:
            click.echo(verdict.message)


@main.group()
def geoip() -> None:
    """The GeoIP database."""


@geoip.command("lookup")
@click.argument("ip")
@config_option
def geoip_lookup(ip: str, config: str | None) -> None:
    """Print the country the database places IP in (or 'unknown')."""
    settings = _settings(config)
    with _errors(), open_geoip(settings.geoip_database, 16) as geo:
        click.echo(geo.peek(ip) or "unknown")


@geoip.command("info")
@config_option
@json_option
def geoip_info(config: str | None, as_json: bool) -> None:
    """Describe the configured database (and the witness), with its age."""
    settings = _settings(config)
    now = time.time()
    with _errors(), open_geoip(settings.geoip_database, 16,
                               witness=settings.geoip_witness) as geo:
        data = {**geo.info().as_json(), **freshness(geo.info(), settings.geoip_max_age, now)}
        witness = geo.witness_info()
        data["witness"] = None if witness is None else {
            **witness.as_json(), **freshness(witness, settings.geoip_max_age, now)}
    if as_json:
        _print_json(data)
    else:
        for key, value in data.items():
            if key != "witness":
                click.echo(f"{key}: {value}")
        if witness is not None:
            for key, value in data["witness"].items():
                click.echo(f"witness {key}: {value}")
    for name, item in (("database", data), ("witness", data["witness"])):
        if item and item["stale"]:
            click.echo(f"joingate: warning: the GeoIP {name} is {item['age_days']:.0f} days "
                       f"old, past geoip.max_age ({item['max_age_days']:g}): run "
                       "joingate geoip update", err=True)


@geoip.command("update")
@click.option("--url", help="Download from URL ({YYYY}/{MM} expanded) instead of "
              "geoip.update_url / DB-IP's monthly Lite / MaxMind GeoLite2.")
@click.option("--check-only", is_flag=True, help="Download and check; install nothing.")
@config_option
@json_option
def geoip_update(url: str | None, check_only: bool, config: str | None,
                 as_json: bool) -> None:
    """Download a country DB, check it fully, install it at geoip.database (the old file kept
    as .previous). Exit 0 installed or current, 1 download/check failed, 2 bad input."""
    from . import geoupdate

    settings = _settings(config)
    with _errors():
        outcome = geoupdate.update(settings, url, check_only)
    report = outcome.report
    if as_json:
        _print_json({"target": str(outcome.target), "url": outcome.url,
                     "installed": outcome.installed, "current": outcome.current,
                     "previous": str(outcome.previous) if outcome.previous else None,
                     "check": report.as_json()})
        return
    built = time.strftime("%Y-%m-%d", time.gmtime(report.build_epoch))
    what = (f"{report.database_type}, built {built}, {report.records} records, "
            f"{report.countries} countries, self-test {report.selftest_placed} placed")
    if outcome.current:
        click.echo(f"{outcome.target} is already current ({what})")
    elif not outcome.installed:
        click.echo(f"{outcome.url} passes the check ({what}); not installed (--check-only)")
    else:
        kept = f"; previous kept as {outcome.previous}" if outcome.previous else ""
        click.echo(f"installed {outcome.target} ({what}){kept}")


@geoip.command("compare")
@click.argument("first", metavar="A", type=click.Path(exists=True, dir_okay=False))
@click.argument("second", metavar="B", type=click.Path(exists=True, dir_okay=False))
@click.option("--countries", default="CN,HK,MO,TW", show_default=True,
              help="The countries that matter, comma-separated ISO codes.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="How many of the largest disagreeing ranges to list per family.")
@json_option
def geoip_compare(first: str, second: str, countries: str, top: int, as_json: bool) -> None:
    """How far two country databases agree, over the whole public address space, and their
    largest disagreements about the countries that matter."""
    from .geocompare import compare, render
    from .jurisdiction import jurisdictions
    from .restrictions import normalize_countries

    with _errors():
        focus = normalize_countries([c for c in countries.split(",") if c.strip()],
                                    jurisdictions(), "countries")
        result = compare(first, second, focus, top)
    if as_json:
        _print_json(result)
    else:
        click.echo(render(result), nl=False)


@geoip.group("correct")
def geoip_correct() -> None:
    """Corrections: a network (/24 or /48 at the narrowest) is in a given country."""


@geoip_correct.command("add")
@click.argument("network")
@click.argument("country")
@click.option("--reason", required=True, help="Why (published in the transparency report).")
@config_option
@json_option
def geoip_correct_add(network: str, country: str, reason: str, config: str | None,
                      as_json: bool) -> None:
    """Place NETWORK in COUNTRY, over both databases; prints the correction's id."""
    fields = {"network": network, "country": country, "reason": reason}
    made = _with_store(config, lambda s: actions.add_correction(s, fields, _actor()))
    if as_json:
        _print_json(made.as_json())
    else:
        click.echo(made.id)


@geoip_correct.command("list")
@config_option
@json_option
def geoip_correct_list(config: str | None, as_json: bool) -> None:
    """List corrections (active and removed)."""
    found = _with_store(config, lambda s: s.list_corrections())
    if as_json:
        _print_json({"corrections": [c.as_json() for c in found]})
        return
    for c in found:
        data = c.as_json()
        click.echo(f"{c.id:>5}  {data['state']:<8} {c.network:<20} {c.country}  "
                   f"{data['created_at']}  {c.reason}")


@geoip_correct.command("remove")
@click.argument("correction_id", metavar="ID", callback=_id("id"))
@click.option("--reason", required=True)
@config_option
@json_option
def geoip_correct_remove(correction_id: int, reason: str, config: str | None,
                         as_json: bool) -> None:
    """Remove a correction (the databases' answer applies again)."""
    removed = _with_store(config, lambda s: actions.remove_correction(
        s, correction_id, reason, _actor()))
    if as_json:
        _print_json(removed.as_json())
    else:
        click.echo(f"correction {removed.id} removed")


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint published earlier (JSON with size and head, or a report "
                   "JSON with audit_checkpoint) to check the log against.")
@config_option
def audit_verify(checkpoint_file: str | None, config: str | None) -> None:
    """Recompute the hash chain and check it against every checkpoint; exit 1 naming the
    first bad entry."""
    async def load(store: Store) -> tuple[list[AuditEntry], list[Checkpoint]]:
        return await store.audit_entries(), await store.checkpoints()

    entries, checkpoints = _with_store(config, load)
    if checkpoint_file is not None:
        checkpoints.append(_read_checkpoint(checkpoint_file))
    problem = verify(entries)
    for checkpoint in checkpoints:
        problem = problem or verify_checkpoint(entries, checkpoint)
    if problem is not None:
        _fail(str(problem), 1)
    click.echo(f"audit log intact: {len(entries)} entries, {len(checkpoints)} checkpoints "
               f"agree{', head ' + entries[-1].hash if entries else ''}")


def _read_checkpoint(path: str) -> Checkpoint:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        data = data.get("audit_checkpoint", data)
        return Checkpoint(str(data.get("at", "")), int(data["size"]), str(data["head"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        _fail(f"checkpoint: {path} is not a checkpoint (JSON with size and head)", 2)
        raise


@audit.command("checkpoint")
@config_option
def audit_checkpoint(config: str | None) -> None:
    """Record a checkpoint now (if the log grew, or its head is not yet signed by the key in
    use) and print the latest as JSON."""
    settings = _settings(config)
    with _errors():
        signing = load_signing(settings)

    async def run(store: Store) -> list[Checkpoint]:
        await actions.add_checkpoint(store, utc_now(), signing)
        return await store.checkpoints()

    checkpoints = _with_store(config, run)
    if not checkpoints:
        _fail("the audit log is empty: nothing to checkpoint", 1)
    _print_json(checkpoints[-1].as_json())


@audit.group("key")
def audit_key() -> None:
    """The Ed25519 key that signs the audit log's checkpoints."""


@audit_key.command("create")
@click.option("--name", help="The key's name (default: audit.origin).")
@click.option("--out", "out", help="The key file (default: audit.signing_key).")
@click.option("--force", is_flag=True, help="Replace an existing key file.")
@config_option
def audit_key_create(name: str | None, out: str | None, force: bool,
                     config: str | None) -> None:
    """Make a signing key (file mode 0600) and print its public verifier key."""
    settings = _settings(config)
    with _errors():
        signer = create_key(out or settings.audit_signing_key, name or settings.origin, force)
        click.echo(signer.verifier.text)


@audit_key.command("rotate")
@click.option("--name", help="The new key's name (default: the old key's).")
@config_option
def audit_key_rotate(name: str | None, config: str | None) -> None:
    """Replace the key at audit.signing_key: the new key and the old sign a statement naming
    both (published with every report), the old file is kept as <file>.<old id>.retired, and
    the current head is signed with the new key. Copy the new file to every instance."""
    settings = _settings(config)
    with _errors():
        load_signing(settings)  # exit 2 before the store is opened
    old, new = _with_store(config, lambda s: rotate_key(s, settings, name, _actor()))
    click.echo(f"rotated {old.verifier.text}\n     to {new.verifier.text}")


@audit.command("verify-reports")
@click.argument("old_file", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_file", metavar="NEW", type=click.Path(dir_okay=False))
@click.option("--url", help="The joingate service to ask for the consistency proof "
              "(GET URL/v1/audit/consistency); without it, the store of --config.")
@click.option("--key", "key_text", help="The verifier key you trust for OLD (default: the "
              "key OLD names).")
@config_option
def audit_verify_reports(old_file: str, new_file: str, url: str | None, key_text: str | None,
                         config: str | None) -> None:
    """Check that the log of a newer report (JSON, Markdown or HTML) extends the log of an
    older one unchanged: both signatures, then the consistency proof between their heads."""
    old = _published(old_file, "OLD")
    new = _published(new_file, "NEW")
    trusted = None
    if key_text is not None:
        try:
            trusted = parse_verifier(key_text)
        except NoteError as exc:
            _fail(f"key: {exc}", 2)
    problem = check_heads(old, new, trusted, old_file, new_file)
    if problem is not None:
        _fail(problem, 1)
    proof = None
    m, n = old.head.size, new.head.size
    if m < n:
        if url:
            proof = _fetch_proof(url, m, n)
        elif config:
            proof = _with_store(config, lambda s: LogTree(s).proof(m, n))
        else:
            _fail("url: give --url (the service) or --config (its store) for the "
                  "consistency proof", 2)
    problem = check_extends(old, new, proof, trusted, old_file, new_file)
    if problem is not None:
        _fail(problem, 1)
    click.echo(f"{new_file} extends {old_file}: {m} -> {n} entries of {new.head.origin}, "
               f"signed by {new.key.text}")


def _published(path: str, what: str) -> Published:
    try:
        with open(path, encoding="utf-8") as fh:
            return read_published(fh.read())
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{what}: cannot read {path}: {exc}", 2)
    except NoteError as exc:
        _fail(f"{what}: {path}: {exc}", 1)
    raise AssertionError("unreachable")


def _fetch_proof(url: str, first: int, second: int) -> list[bytes]:
    target = f"{url.rstrip('/')}/v1/audit/consistency?from={first}&to={second}"
    try:
        with urllib.request.urlopen(target, timeout=30) as response:
            data = json.load(response)
        return [unb64(h, "proof") for h in data["proof"]]
    except urllib.error.HTTPError as exc:
        _fail(f"url: {target} answered {exc.code}: {exc.read()[:200]!r}", 1)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _fail(f"url: no consistency proof from {target}: {exc}", 1)
    raise AssertionError("unreachable")


# -- transparency report --------------------------------------------------------------------

@main.command("report")
@click.option("--format", "fmt", type=click.Choice(values(ReportFormat)),
              default=ReportFormat.MD.value, show_default=True, help="json: the document "
              "GET /v1/report returns; html: a standalone page with charts.")
@click.option("--since", help="First day, YYYY-MM-DD (UTC); default: the start of the record.")
@click.option("--until", help="Last day, included, YYYY-MM-DD (UTC); default: today.")
@config_option
@json_option
def report_command(fmt: str, since: str | None, until: str | None, config: str | None,
                   as_json: bool) -> None:
    """The transparency report for a period: requests, outcomes, restrictions, participants
    refused and removed by country, the audit checkpoint."""
    from .report import RENDERERS, parse_period
    from .report.load import load_report

    with _errors():  # bad dates: exit 2 before the store is opened
        parse_period(since, until, utc_now())
    data = _with_store(config, lambda s: load_report(s, since, until))
    click.echo(RENDERERS[ReportFormat.JSON if as_json else fmt](data), nl=False)
