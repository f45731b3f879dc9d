"""Meeting names and Jitsi tenants: policy.normalize_room(s)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.policy import ALL_MEETINGS, MAX_ROOMS, normalize_room, normalize_rooms
from tests.property.strategies import any_value, room_segment, room_text, spaces

field_names = st.sampled_from(["rooms", "room", "checks[0].room"])


@given(st.one_of(room_text, any_value), field_names, st.booleans())
@example("June4-HK", "rooms", True)
@example("Tenant/Room", "rooms", True)
@example("*", "rooms", False)
@example(" * ", "rooms", True)
@example("a/b/c", "rooms", True)
@example("a b", "rooms", True)
@example("İstanbul", "rooms", True)
def test_a_name_is_refused_naming_the_field_or_normalized_idempotently(
        value: object, field: str, allow_all: bool) -> None:
    try:
        room = normalize_room(value, field, allow_all)
    except InvalidInput as exc:
        assert exc.field == field
        return
    assert isinstance(value, str)
    assert room == value.strip().lower()
    assert room == room.lower() and room == room.strip()
    assert normalize_room(room, field, allow_all) == room
    if room == ALL_MEETINGS:
        assert allow_all
    else:
        assert room.count("/") <= 1
        assert all(1 <= len(part) <= 200 for part in room.split("/"))
        assert not any(c in room for c in "\"&'<>@: \t\n")


@given(room_segment, room_segment, spaces)
def test_tenant_and_room_keep_one_slash_and_are_lower_cased(tenant: str, room: str,
                                                            pad: str) -> None:
    name = f"{tenant}/{room}"
    try:
        result = normalize_room(pad + name + pad)
    except InvalidInput as exc:
        # Only a segment that lower-cases to more than 200 characters (or to a refused
        # character) is refused.
        assert exc.field == "rooms"
        return
    assert result == name.lower()
    assert result.split("/") == [tenant.lower(), room.lower()]


@given(st.lists(st.one_of(room_segment, st.just("*"), room_text), max_size=6), field_names,
       st.booleans())
def test_a_list_is_refused_naming_the_field_or_normalized_deduplicated(
        values: list[str], field: str, allow_all: bool) -> None:
    try:
        rooms = normalize_rooms(values, field, allow_all)
    except InvalidInput as exc:
        assert exc.field == field
        return
    assert 1 <= len(rooms) <= MAX_ROOMS
    assert len(set(rooms)) == len(rooms)
    assert rooms == tuple(dict.fromkeys(v.strip().lower() for v in values))
    assert ALL_MEETINGS not in rooms or (rooms == (ALL_MEETINGS,) and allow_all)
    assert normalize_rooms(rooms, field, allow_all) == rooms


@given(room_segment)
def test_a_single_string_is_one_meeting_not_its_characters(name: str) -> None:
    try:
        expected = normalize_room(name)
    except InvalidInput:
        return
    assert normalize_rooms(name) == (expected,)
