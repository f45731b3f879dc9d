"""Meeting names in a real browser: the service reads a name as people see it exactly as
Jitsi's client (JavaScript, in Chromium) turns it into a room node, for every Unicode character;
and the admin form takes a name with spaces, one per line, and shows it readably."""

from __future__ import annotations

import unicodedata

from playwright.sync_api import BrowserContext, Page, expect

from joingate.rooms import jitsi_node
from joingate.testing.service import JoingateService, http

from .browser import shot, sign_in

# Jitsi's getBackendSafeRoomName (react/features/base/util/uri.ts), step by step, in our words.
JITSI_STEPS = """(names) => names.map((name) => {
    let room = name;
    try { room = decodeURIComponent(room); } catch (e) { /* not encoded: keep it */ }
    return encodeURIComponent(room.normalize('NFKC').toLowerCase()).toLowerCase();
})"""


def test_the_service_makes_the_room_node_jitsis_client_makes(context: BrowserContext) -> None:
    # Every character Python's Unicode tables know, inside a name ("%" alone would start an
    # escape, which the service reads as a node instead).
    names = [f"A{chr(cp)}b" for cp in range(0x110000)
             if unicodedata.category(chr(cp)) not in ("Cn", "Cs") and cp != 0x25]
    names += ["Café Vigil", "CAFÉ", "ΟΔΟΣ ΟΔΟΣ", "İstanbul", "Straße", "ﬁx", "100% sure",
              "会议 2020", "Ǆemal", "\u1e9e", "a\u0307"]
    page = context.new_page()   # about:blank: no page script, no CSP in the way
    nodes = page.evaluate(JITSI_STEPS, names)
    wrong = [(n, node, jitsi_node(n)) for n, node in zip(names, nodes, strict=True)
             if jitsi_node(n) != node]
    assert wrong == []


def test_the_admin_form_takes_names_as_people_see_them(page: Page,
                                                       service: JoingateService) -> None:
    status, _ = http("POST", f"{service.url}/v1/census", {"rooms": {
        "caf%c3%a9%20vigil": {"CN": 2}, "[acme]vigil": {"CN": 1}}}, service.plugin_token)
    assert status == 200
    sign_in(page, service)
    page.goto(f"{service.url}/admin/restrictions/new")
    page.get_by_label("Meetings").fill("Café Vigil\n[acme]vigil\n50%25 off")
    page.get_by_label("Countries").fill("CN")
    page.get_by_label("Reason", exact=True).fill("operator policy")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create the restriction").click()
    assert answer.value.status == 400
    expect(page.locator("#rooms-error")).to_contain_text("ambiguous")
    expect(page.get_by_label("Meetings")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Meetings").fill("Café Vigil\n[acme]vigil")
    page.get_by_role("button", name="Preview the impact").click()
    preview = page.get_by_role("region", name="Impact preview")
    expect(preview).to_contain_text("café vigil (caf%c3%a9%20vigil)")
    expect(preview).to_contain_text("would remove 3 current participants")
    page.get_by_role("button", name="Create the restriction").click()
    expect(page.get_by_role("status")).to_contain_text("was created")
    expect(page.get_by_role("main")).to_contain_text(
        "café vigil (caf%c3%a9%20vigil), acme/vigil")
    shot(page, "room-names-restriction")
    status, body = service.api("GET", "/v1/restrictions")
    assert [r["rooms"] for r in body["restrictions"]] == [["caf%c3%a9%20vigil", "acme/vigil"]]
