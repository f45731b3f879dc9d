"""joingate.api.schemas.decode: msgspec errors mapped to the offending field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from joingate.api.schemas import (
    AuthorizeIn,
    BatchIn,
    DecisionIn,
    RequestIn,
    RestrictionIn,
    RevokeIn,
    decode,
)
from joingate.errors import InvalidInput
from joingate.vocabulary import Mode, Purpose, RequestOutcome


def refused(body: bytes, kind: type[Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        decode(body, msgspec.json.Decoder(kind))
    assert type(info.value) is InvalidInput
    assert info.value.http_status == 400
    assert info.value.message.startswith(f"{info.value.field}: ")
    return info.value


def test_decodes_valid_bodies() -> None:
    a = decode(b'{"room": "june4", "ip": "127.0.1.10"}', msgspec.json.Decoder(AuthorizeIn))
    assert (a.room, a.ip) == ("june4", "127.0.1.10")
    b = decode(b'{"checks": [{"room": "a", "ip": "1.2.3.4"}]}', msgspec.json.Decoder(BatchIn))
    assert b.purpose == "sweep"
    assert b.checks[0].room == "a"
    r = decode(b'{"rooms": ["a"], "countries": ["cn"], "reason": "x"}',
               msgspec.json.Decoder(RestrictionIn))
    assert (r.mode, r.request, r.starts_at, r.ends_at) == ("block", None, None, None)


def test_unknown_fields_are_ignored_on_the_plugin_routes() -> None:
    a = decode(b'{"room": "a", "ip": "b", "extra": 1}', msgspec.json.Decoder(AuthorizeIn))
    assert a.room == "a"


@pytest.mark.parametrize(("body", "kind", "field"), [
    (b'{"room": "june4"}', AuthorizeIn, "ip"),
    (b'{"ip": "127.0.0.1"}', AuthorizeIn, "room"),
    (b'{"room": "a", "ip": 5}', AuthorizeIn, "ip"),
    (b'{"room": "", "ip": "1.2.3.4"}', AuthorizeIn, "room"),
    (b'{"room": "a", "ip": "' + b"1" * 65 + b'"}', AuthorizeIn, "ip"),
    (b'{"checks": [{"room": "a", "ip": "b"}, {"room": 5, "ip": "c"}]}', BatchIn,
     "checks[1].room"),
    (b'{"checks": [{"room": "a"}]}', BatchIn, "checks[0].ip"),
    (b'{"checks": {}}', BatchIn, "checks"),
    (b'{"checks": [], "purpose": "spy"}', BatchIn, "purpose"),
    (b'{"rooms": ["a"], "countries": ["CN"], "reason": "x", "extra": 1}', RestrictionIn,
     "extra"),
    (b'{"rooms": ["a"], "countries": ["CN"], "reason": "x", "mode": "deny"}', RestrictionIn,
     "mode"),
    (b'{"rooms": ["a"], "countries": [86], "reason": "x"}', RestrictionIn, "countries[0]"),
    (b'{"rooms": ["a"], "countries": ["CN"]}', RestrictionIn, "reason"),
    (b'{"rooms": ["a"], "countries": ["CN"], "reason": "x", "request": "7"}', RestrictionIn,
     "request"),
    (b'{"rooms": "a", "countries": ["CN"], "reason": "x"}', RestrictionIn, "rooms"),
    (b'{"reason": "' + b"x" * 4001 + b'"}', RevokeIn, "reason"),
    (b'{"reason": "x", "by": "me"}', RevokeIn, "by"),
    (b'{"outcome": "ignored", "note": "n"}', DecisionIn, "outcome"),
    (b'{"outcome": "refused"}', DecisionIn, "note"),
    (b'{"authority": "a", "jurisdiction": "CN", "reference": "r", "rooms": ["a"]}', RequestIn,
     "demand"),
    (b'{"authority": "a", "jurisdiction": "CN", "reference": "r", "rooms": ["a"], '
     b'"demand": "d", "received": "now"}', RequestIn, "received"),
])
def test_error_names_the_field(body: bytes, kind: type[Any], field: str) -> None:
    exc = refused(body, kind)
    assert exc.field == field
    assert exc.code == "invalid"


@pytest.mark.parametrize("body", [b'{"room": "a", "ip": "b"', b"", b"{room: 1}", b"nul",
                                  b'{"room": "a", "ip": "b"} trailing', b"\xff\xfe"])
def test_malformed_json(body: bytes) -> None:
    exc = refused(body, AuthorizeIn)
    assert exc.field == "body"
    assert exc.code == "malformed_json"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_wrong_top_level_type_names_the_body(body: bytes) -> None:
    exc = refused(body, AuthorizeIn)
    assert exc.field == "body"
    assert exc.code == "invalid"


@pytest.mark.parametrize(("body", "kind", "message"), [
    (b'{"checks": [], "purpose": "spy"}', BatchIn, "purpose: Invalid enum value 'spy'"),
    (b'{"rooms": ["a"], "countries": ["CN"], "reason": "x", "mode": "deny"}', RestrictionIn,
     "mode: Invalid enum value 'deny'"),
    (b'{"outcome": "ignored", "note": "n"}', DecisionIn, "outcome: Invalid enum value 'ignored'"),
    (b'{"outcome": 3, "note": "n"}', DecisionIn, "outcome: Expected `str`, got `int`"),
])
def test_a_word_outside_its_set_is_refused_as_before(body: bytes, kind: type[Any],
                                                     message: str) -> None:
    """The sets come from joingate.vocabulary (StrEnum); the refusal reads as it did when the
    body types spelled them out as Literal."""
    assert refused(body, kind).message == message


def test_the_words_decode_to_their_vocabulary_members() -> None:
    made = decode(b'{"rooms": ["a"], "countries": ["CN"], "reason": "x", "mode": "allow-only"}',
                  msgspec.json.Decoder(RestrictionIn))
    assert made.mode is Mode.ALLOW_ONLY
    assert decode(b'{"checks": []}', msgspec.json.Decoder(BatchIn)).purpose is Purpose.SWEEP
    decided = decode(b'{"outcome": "partially", "note": "n"}', msgspec.json.Decoder(DecisionIn))
    assert decided.outcome is RequestOutcome.PARTIALLY
