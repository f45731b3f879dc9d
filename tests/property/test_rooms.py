"""Meeting names and Jitsi tenants: policy.normalize_room(s).

Valid names (tests/property/strategies.py `valid_room`) must be accepted, invalid ones
(`invalid_room`) refused naming the field; arbitrary text must be one or the other, never
another exception."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.policy import ALL_MEETINGS, MAX_ROOMS, normalize_room, normalize_rooms
from tests.property.strategies import (
    any_value,
    invalid_room,
    room_text,
    spaces,
    valid_room,
    valid_room_segment,
)

field_names = st.sampled_from(["rooms", "room", "checks[0].room"])


def refused(value: object, field: str, allow_all: bool = True) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        normalize_room(value, field, allow_all)
    assert caught.value.field == field
    return caught.value


@given(valid_room, spaces, spaces, field_names, st.booleans())
@example("June4-HK", "", "", "rooms", False)
@example("Tenant/Room", " ", "\t", "rooms", False)
def test_a_valid_name_is_accepted_lower_cased_and_idempotent(
        name: str, before: str, after: str, field: str, allow_all: bool) -> None:
    room = normalize_room(before + name + after, field, allow_all)
    assert room == name.lower()
    assert normalize_room(room, field, allow_all) == room


@given(st.sampled_from(["*", " * ", "\t*\n"]), field_names)
def test_all_meetings_is_accepted_only_where_allowed(value: str, field: str) -> None:
    assert normalize_room(value, field, True) == ALL_MEETINGS
    refused(value, field, allow_all=False)


@given(invalid_room(), field_names, st.booleans())
@example("a/b/c", "rooms", True)
@example("a b", "rooms", True)
@example("", "rooms", True)
@example("a/", "rooms", True)
@example("june4@conference", "rooms", True)
def test_an_invalid_name_is_refused_naming_the_field(value: object, field: str,
                                                     allow_all: bool) -> None:
    refused(value, field, allow_all)


@given(st.one_of(room_text, any_value), field_names, st.booleans())
def test_any_value_is_refused_naming_the_field_or_a_well_formed_name(
        value: object, field: str, allow_all: bool) -> None:
    """Arbitrary input: whatever is accepted is a well-formed name; nothing raises anything
    but InvalidInput naming the field."""
    try:
        room = normalize_room(value, field, allow_all)
    except InvalidInput as exc:
        assert exc.field == field
        return
    assert isinstance(value, str)
    assert room == room.strip() and normalize_room(room, field, allow_all) == room
    if room == ALL_MEETINGS:
        assert allow_all
    else:
        assert room.count("/") <= 1
        assert all(1 <= len(part) <= 200 for part in room.split("/"))
        assert not any(c in room for c in "\"&'<>@: \t\n")


@given(valid_room_segment, valid_room_segment, spaces)
def test_tenant_and_room_keep_one_slash_and_are_lower_cased(tenant: str, room: str,
                                                            pad: str) -> None:
    result = normalize_room(pad + f"{tenant}/{room}" + pad)
    assert result.split("/") == [tenant.lower(), room.lower()]


@given(st.lists(valid_room, min_size=1, max_size=6), field_names, st.booleans())
def test_a_valid_list_is_accepted_lower_cased_and_deduplicated(
        values: list[str], field: str, allow_all: bool) -> None:
    rooms = normalize_rooms(values, field, allow_all)
    assert rooms == tuple(dict.fromkeys(v.lower() for v in values))
    assert normalize_rooms(rooms, field, allow_all) == rooms


@given(st.lists(valid_room, max_size=4), st.integers(0, 4), invalid_room(), field_names)
def test_a_list_with_an_invalid_name_is_refused_naming_the_field(
        values: list[str], at: int, bad: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_rooms([*values[:at], bad, *values[at:]], field)
    assert caught.value.field == field


@given(st.lists(valid_room, max_size=3), field_names)
def test_all_meetings_stands_alone_in_a_list(values: list[str], field: str) -> None:
    assert normalize_rooms(["*"], field, True) == (ALL_MEETINGS,)
    for listed, allow_all in (([*values, "*"], True), (["*"], False), ([], True)):
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


@given(valid_room_segment)
def test_a_single_string_is_one_meeting_not_its_characters(name: str) -> None:
    assert normalize_rooms(name) == (normalize_room(name),)
