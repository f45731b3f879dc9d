"""The admin page on location evidence: the GeoIP databases in use (age, errors, witness) and
the corrections, with forms to add and remove them."""

from __future__ import annotations

from aiohttp import web

from ..errors import JoingateError
from .routes import Form, Handler, _actor, _match_id, _redirect, _render, _runtime, _status, _text

CORRECTION_FIELDS = ("network", "country", "reason")


async def _geoip_page(request: web.Request, form: Form, status: int = 200,
                      remove_form: Form | None = None) -> web.Response:
    rt = _runtime(request)
    corrections = [c.as_json() for c in reversed(await rt.store.list_corrections())]
    return _render(request, "geoip.html", status, title="Location evidence",
                   geoip=rt.geoip_status(), corrections=corrections, form=form,
                   remove_form=remove_form or Form(), done=request.query.get("done"))


async def geoip_show(request: web.Request) -> web.StreamResponse:
    return await _geoip_page(request, Form())


async def correction_create(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    form = Form(values={name: _text(posted, name) for name in CORRECTION_FIELDS})
    try:
        made = await _runtime(request).add_correction(form.values, _actor(request))
    except JoingateError as exc:
        form.fail(exc, CORRECTION_FIELDS)
        return await _geoip_page(request, form, _status(exc))
    return _redirect(f"/admin/geoip?done=added-{made.id}")


async def correction_remove(request: web.Request) -> web.StreamResponse:
    correction_id = _match_id(request)
    posted = await request.post()
    form = Form(values={"reason": _text(posted, "reason"), "id": correction_id})
    try:
        await _runtime(request).remove_correction(correction_id, form.values["reason"],
                                                  _actor(request))
    except JoingateError as exc:
        form.fail(exc, ("reason",))
        return await _geoip_page(request, Form(), _status(exc), remove_form=form)
    return _redirect(f"/admin/geoip?done=removed-{correction_id}")


def geoip_pages() -> list[tuple[str, str, Handler]]:
    return [("GET", "/admin/geoip", geoip_show),
            ("POST", "/admin/geoip/corrections", correction_create),
            ("POST", "/admin/geoip/corrections/{id}/remove", correction_remove)]
