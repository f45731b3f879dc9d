"""Meeting names: the name people see and Jitsi's room node give one canonical name."""

from __future__ import annotations

import pytest

from joingate.errors import InvalidInput
from joingate.rooms import canonical_room, jitsi_node, join_key, readable


@pytest.mark.parametrize(("name", "expected"), [
    # As people see it: Jitsi's client NFKC-normalises, lower-cases and percent-encodes.
    ("Café Vigil", "caf%c3%a9%20vigil"),
    ("my meeting", "my%20meeting"),
    ("June4", "june4"),
    ("CAFÉ", "caf%c3%a9"),          # lower-cased before encoding: the same meeting as "café"
    ("ﬁx", "fix"),                   # NFKC
    ("会议", "%e4%bc%9a%e8%ae%ae"),
    ("50% off", "50%25%20off"),     # a '%' that starts no escape is a character of the name
    ("100%", "100%25"),
    ("a\\b", "a%5cb"),              # a backslash not followed by two hex digits
    ("[Draft Plan]", "%5bdraft%20plan%5d"),
    ("room.with.dots_and-dashes!~*()", "room.with.dots_and-dashes!~*()"),
    # As its node: read as it is (ASCII case does not matter: Prosody lower-cases nodes).
    ("caf%c3%a9%20vigil", "caf%c3%a9%20vigil"),
    ("Caf%C3%A9%20Vigil", "caf%c3%a9%20vigil"),
    ("50%25%20off", "50%25%20off"),
    ("a%2fb", "a%2fb"),
    # Tenants: tenant/room (as in the address) or [tenant]room (the node, via the domain mapper).
    ("acme/Café Vigil", "acme/caf%c3%a9%20vigil"),
    ("ACME/june4", "acme/june4"),
    ("acme/caf%c3%a9%20vigil", "acme/caf%c3%a9%20vigil"),
    ("[acme]caf%c3%a9%20vigil", "acme/caf%c3%a9%20vigil"),
    ("[ACME]June4", "acme/june4"),
    ("r" * 1023, "r" * 1023),
])
def test_canonical_room(name: str, expected: str) -> None:
    assert canonical_room(name) == expected
    assert canonical_room(expected) == expected


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"),
    (" vigil", "spaces at either end"),
    ("vigil\n", "spaces at either end"),
    ("a/b/c", "more than one '/'"),
    ("/room", "tenant"),
    ("tenant/", "no meeting"),
    ("acme.example/room", "tenant"),     # the domain mapper's tenant is one DNS label
    ("café/room", "tenant"),
    ("[acme]Café Vigil", "room part is not a node"),
    ("[Draft] Plan", "room part is not a node"),
    ("tenant\\2froom", "XMPP escape"),     # XEP-0106: Jitsi never makes such a node
    ("my\\20room", "XMPP escape"),
    ("acme/x\\40y", "XMPP escape"),
    ("50%25 off", "ambiguous"),            # a title "50%25 off" or the node of "50% off"?
    ("Café%20Vigil", "ambiguous"),
    ("caf%c3%89", "its client makes 'caf%c3%a9'"),   # upper-case É: Jitsi lower-cases first
    ("%61", "its client makes 'a'"),
    ("%ff", "not UTF-8"),
    ("Tom's room", "apostrophe"),          # Prosody refuses the address
    ("tom's%20room", "apostrophe"),
    ("\uff07", "apostrophe"),             # NFKC makes the full-width one an apostrophe
    ("a\ud800b", "not valid Unicode"),
    ("\uff0a", "cannot be told from"),         # NFKC makes the full-width one an asterisk
    ("r" * 1024, "longer than 1023 bytes"),
    ("会" * 114, "longer than 1023 bytes"),  # 114 x 9 escaped bytes
    ("acme/" + "r" * 1020, "longer than 1023 bytes"),   # [acme] counts
])
def test_canonical_room_refuses_naming_the_field(name: str, why: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        canonical_room(name, "rooms")
    assert raised.value.field == "rooms"
    assert why in raised.value.message
    assert raised.value.message.startswith("rooms: ")


def test_the_field_named_is_the_one_given() -> None:
    with pytest.raises(InvalidInput) as raised:
        canonical_room("a/b/c", "room")
    assert raised.value.field == "room"


def test_jitsi_node_is_what_jitsis_client_makes() -> None:
    assert jitsi_node("Café Vigil") == "caf%c3%a9%20vigil"
    assert jitsi_node("İstanbul") == "i%cc%87stanbul"   # full Unicode lower-casing, as JS does
    assert jitsi_node("ΟΔΟΣ") == "%ce%bf%ce%b4%ce%bf%cf%82"   # final sigma, as JS does


@pytest.mark.parametrize(("room", "key"), [
    ("caf%c3%a9%20vigil", "caf%c3%a9%20vigil"),
    ("June4", "june4"),
    ("[acme]june4", "acme/june4"),
    ("acme/june4", "acme/june4"),
    # Names of rooms Jitsi's client never makes stay themselves: another meeting.
    ("café", "café"),
    ("CAFÉ", "cafÉ"),
    ("tenant\\2froom", "tenant\\2froom"),
    ("[]x", "[]x"),
])
def test_join_key_is_what_the_plugin_computes(room: str, key: str) -> None:
    assert join_key(room) == key


def test_readable() -> None:
    assert readable("caf%c3%a9%20vigil") == "café vigil"
    assert readable("acme/caf%c3%a9") == "acme/café"
    assert readable("june4") == "june4"
    # Controls and format characters stay escaped: nothing reorders the page around the name.
    assert readable("june4%e2%80%ae%20x") == "june4%e2%80%ae x"
    assert readable("a%00b%e2%81%a7c") == "a%00b%e2%81%a7c"
    assert readable("x\u2066y") == "x%e2%81%a6y"
