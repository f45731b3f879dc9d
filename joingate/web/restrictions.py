"""Restrictions: the list, the form to make one (for an authority request or as an operator
policy) with its impact preview, and a restriction's page with the form to revoke it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..appkeys import RUNTIME
from ..errors import JoingateError, NotFound
from ..jurisdiction import jurisdictions
from ..restrictions import utc_now
from ..vocabulary import Mode
from .forms import ID_RE, Form, lines, match_id, optional, refusal_status, text, words
from .pages import redirect, render
from .session import Route, actor

RESTRICTION_FIELDS = ("rooms", "countries", "starts_at", "ends_at", "request", "mode", "reason")


async def restrictions_list(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    now = utc_now()
    items = [r.as_json(now) for r in await rt.restrictions()]
    items.reverse()  # newest first
    return render(request, "restrictions.html", title="Restrictions", restrictions=items)


async def _restriction_form(request: web.Request, form: Form, status: int = 200,
                            preview: dict[str, Any] | None = None) -> web.Response:
    requests = await request.app[RUNTIME].requests()
    return render(request, "restriction_form.html", status, title="New restriction",
                  form=form, requests=requests, preview=preview,
                  geoip_disputed=request.app[RUNTIME].settings.geoip_disputed,
                  country_names=jurisdictions().country_names)


async def restriction_new(request: web.Request) -> web.StreamResponse:
    form = Form(values={"mode": Mode.BLOCK})
    chosen = request.query.get("request", "")
    if ID_RE.fullmatch(chosen):
        try:
            req = await request.app[RUNTIME].request(int(chosen))
        except NotFound:
            form.general.append(f"There is no authority request {chosen}.")
        else:
            form.values.update(request=str(req.id), rooms="\n".join(req.rooms),
                               countries=req.jurisdiction,
                               reason=f"{req.authority}, {req.reference}")
    return await _restriction_form(request, form)


def _restriction_fields(form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {name: text(form, name) for name in RESTRICTION_FIELDS}
    request_text = values["request"]
    fields: dict[str, Any] = {
        "rooms": lines(values["rooms"]), "countries": words(values["countries"]),
        "starts_at": optional(values["starts_at"]), "ends_at": optional(values["ends_at"]),
        "mode": values["mode"] or Mode.BLOCK, "reason": values["reason"],
        "request": (int(request_text) if ID_RE.fullmatch(request_text)
                    else optional(request_text)),
    }
    return values, fields


async def restriction_create(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    values, fields = _restriction_fields(posted)
    form = Form(values=values)
    rt = request.app[RUNTIME]
    if text(posted, "action") == "preview":
        try:
            preview = await rt.preview(fields)
        except JoingateError as exc:
            form.fail(exc, RESTRICTION_FIELDS)
            return await _restriction_form(request, form, refusal_status(exc))
        return await _restriction_form(request, form, preview=preview)
    try:
        made = await rt.add_restriction(fields, actor(request))
    except JoingateError as exc:
        form.fail(exc, RESTRICTION_FIELDS)
        return await _restriction_form(request, form, refusal_status(exc))
    return redirect(f"/admin/restrictions/{made.id}?done=created")


async def _restriction_page(request: web.Request, restriction_id: int, form: Form,
                            status: int = 200) -> web.Response:
    rt = request.app[RUNTIME]
    found = await rt.restriction(restriction_id)
    req = None
    if found.request is not None:
        try:
            req = await rt.request(found.request)
        except NotFound:
            req = None
    return render(request, "restriction.html", status,
                  title=f"Restriction {found.id}", r=found.as_json(utc_now()), req=req,
                  form=form, done=request.query.get("done"))


async def restriction_show(request: web.Request) -> web.StreamResponse:
    return await _restriction_page(request, match_id(request), Form())


async def restriction_revoke(request: web.Request) -> web.StreamResponse:
    restriction_id = match_id(request)
    posted = await request.post()
    form = Form(values={"reason": text(posted, "reason")})
    try:
        await request.app[RUNTIME].revoke_restriction(restriction_id, form.values["reason"],
                                                      actor(request))
    except NotFound:
        raise
    except JoingateError as exc:
        form.fail(exc, ("reason",))
        return await _restriction_page(request, restriction_id, form, refusal_status(exc))
    return redirect(f"/admin/restrictions/{restriction_id}?done=revoked")


ROUTES = [Route("GET", "/restrictions", restrictions_list),
          Route("GET", "/restrictions/new", restriction_new),
          Route("POST", "/restrictions", restriction_create),
          Route("GET", "/restrictions/{id}", restriction_show),
          Route("POST", "/restrictions/{id}/revoke", restriction_revoke)]
