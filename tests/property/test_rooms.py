"""Meeting names: policy.normalize_room(s) and rooms.join_key.

A Jitsi meeting named in any form an operator may type (as people see it, as its room node,
behind a tenant; tests/property/strategies.py `meeting_name`) must be accepted and give the node
Jitsi's client makes (an oracle written independently of joingate.rooms); what names no
meeting, or none unambiguously (`invalid_room`), must be refused naming the field; arbitrary
text must be one or the other, never another exception. Distinct nodes never share a name.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.restrictions import ALL_MEETINGS, MAX_ROOMS, normalize_room, normalize_rooms
from joingate.rooms import join_key
from tests.property.strategies import (
    any_value,
    invalid_room,
    jitsi_node_oracle,
    meeting_name,
    room_text,
    seen_name,
)

field_names = st.sampled_from(["rooms", "room", "checks[0].room"])
CANONICAL = re.compile(r"(?:[a-z0-9_-]{1,63}/)?(?:[a-z0-9\-_.!~*()]|%[0-9a-f]{2})+")


def refused(value: object, field: str, allow_all: bool = True) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        normalize_room(value, field, allow_all)
    assert caught.value.field == field
    return caught.value


@given(meeting_name(), field_names, st.booleans())
@example(("Café Vigil", "caf%c3%a9%20vigil"), "rooms", False)
@example(("CAFÉ", "caf%c3%a9"), "rooms", True)
@example(("ΟΔΟΣ", "%ce%bf%ce%b4%ce%bf%cf%82"), "rooms", True)
@example(("İstanbul", "i%cc%87stanbul"), "rooms", True)
@example(("ﬁ", "fi"), "rooms", True)
@example(("50% off", "50%25%20off"), "rooms", True)
@example(("Tenant/Room", "tenant/room"), "rooms", True)
@example(("[tenant2]room9", "tenant2/room9"), "rooms", True)
def test_a_meeting_in_any_form_gives_the_node_jitsi_makes(
        named: tuple[str, str], field: str, allow_all: bool) -> None:
    name, canonical = named
    assert normalize_room(name, field, allow_all) == canonical   # a refusal is a failure
    assert normalize_room(canonical, field, allow_all) == canonical
    assert join_key(canonical) == canonical                      # as the plugin keys it


@given(st.sampled_from(["*", " * ", "\t*\n"]), field_names)
def test_all_meetings_is_accepted_only_where_allowed(value: str, field: str) -> None:
    assert normalize_room(value, field, True) == ALL_MEETINGS
    refused(value, field, allow_all=False)


@given(invalid_room(), field_names, st.booleans())
@example("a/b/c", "rooms", True)
@example("tenant3\\2froom9", "rooms", True)
@example("50%25 off", "rooms", True)
@example("caf%c3%89", "rooms", True)
@example("Tom's", "rooms", True)
@example(" vigil", "rooms", True)
@example("", "rooms", True)
@example("a/", "rooms", True)
def test_an_invalid_name_is_refused_naming_the_field(value: object, field: str,
                                                     allow_all: bool) -> None:
    refused(value, field, allow_all)


@given(st.one_of(room_text, any_value), field_names, st.booleans())
def test_any_value_is_refused_naming_the_field_or_canonical(
        value: object, field: str, allow_all: bool) -> None:
    """Arbitrary input: whatever is accepted is a canonical name, stable, and what the plugin
    would send for that room; nothing raises anything but InvalidInput naming the field."""
    try:
        room = normalize_room(value, field, allow_all)
    except InvalidInput as exc:
        assert exc.field == field
        return
    assert isinstance(value, str)
    assert normalize_room(room, field, allow_all) == room
    if room == ALL_MEETINGS:
        assert allow_all
    else:
        assert CANONICAL.fullmatch(room), room
        assert join_key(room) == room


@given(seen_name, seen_name)
@example("CAFÉ", "café")
@example("Straße", "strasse")
def test_distinct_jitsi_nodes_never_share_a_canonical_name(a: str, b: str) -> None:
    same_node = jitsi_node_oracle(a) == jitsi_node_oracle(b)
    assert (normalize_room(a) == normalize_room(b)) == same_node


@given(st.text(min_size=1, max_size=30).filter(lambda s: "@" not in s and "/" not in s),
       st.text(min_size=1, max_size=30).filter(lambda s: "@" not in s and "/" not in s))
@example("[tenant]room1", "tenant\\2froom1")
@example("[a]b", "%5ba%5db")
@example("caf%c3%a9", "café")
def test_the_plugins_names_keep_distinct_nodes_apart(a: str, b: str) -> None:
    """Any two Prosody room nodes (never holding "@" or "/") that differ beyond ASCII case are
    two keys for /v1/authorize and the census."""
    assume(a.lower() != b.lower())
    assert join_key(a) != join_key(b)


@given(st.lists(meeting_name(), min_size=1, max_size=6), field_names, st.booleans())
def test_a_valid_list_is_accepted_canonical_and_deduplicated(
        values: list[tuple[str, str]], field: str, allow_all: bool) -> None:
    rooms = normalize_rooms([name for name, _ in values], field, allow_all)
    assert rooms == tuple(dict.fromkeys(canonical for _, canonical in values))
    assert normalize_rooms(rooms, field, allow_all) == rooms


@given(st.lists(meeting_name(), max_size=4), st.integers(0, 4), invalid_room(), field_names)
def test_a_list_with_an_invalid_name_is_refused_naming_the_field(
        values: list[tuple[str, str]], at: int, bad: object, field: str) -> None:
    names: list[object] = [name for name, _ in values]
    with pytest.raises(InvalidInput) as caught:
        normalize_rooms([*names[:at], bad, *names[at:]], field)
    assert caught.value.field == field


@given(st.lists(meeting_name(), max_size=3), field_names)
def test_all_meetings_stands_alone_in_a_list(values: list[tuple[str, str]], field: str) -> None:
    assert normalize_rooms(["*"], field, True) == (ALL_MEETINGS,)
    names = [name for name, _ in values]
    for listed, allow_all in (([*names, "*"], True), (["*"], False), ([], True)):
        if listed == ["*"] and allow_all:
            continue
        with pytest.raises(InvalidInput) as caught:
            normalize_rooms(listed, field, allow_all)
        assert caught.value.field == field


def test_a_list_longer_than_the_limit_is_refused() -> None:
    normalize_rooms([f"m{i}" for i in range(MAX_ROOMS)])
    with pytest.raises(InvalidInput) as caught:
        normalize_rooms([f"m{i}" for i in range(MAX_ROOMS + 1)])
    assert caught.value.field == "rooms"


@given(meeting_name())
def test_a_single_string_is_one_meeting_not_its_characters(named: tuple[str, str]) -> None:
    assert normalize_rooms(named[0]) == (named[1],)
