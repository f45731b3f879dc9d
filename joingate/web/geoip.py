"""The admin page on location evidence: the GeoIP databases in use (age, errors, witness) and
the corrections, with forms to add and remove them."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import RUNTIME
from ..errors import JoingateError
from .forms import Form, match_id, refusal_status, text
from .pages import redirect, render
from .session import Route, actor

CORRECTION_FIELDS = ("network", "country", "reason")


async def _geoip_page(request: web.Request, form: Form, status: int = 200,
                      remove_form: Form | None = None) -> web.Response:
    rt = request.app[RUNTIME]
    corrections = [c.as_json() for c in reversed(await rt.corrections())]
    return render(request, "geoip.html", status, title="Location evidence",
                  geoip=rt.geoip_status(), corrections=corrections, form=form,
                  remove_form=remove_form or Form(), done=request.query.get("done"))


async def geoip_show(request: web.Request) -> web.StreamResponse:
    return await _geoip_page(request, Form())


async def correction_create(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    form = Form(values={name: text(posted, name) for name in CORRECTION_FIELDS})
    try:
        made = await request.app[RUNTIME].add_correction(form.values, actor(request))
    except JoingateError as exc:
        form.fail(exc, CORRECTION_FIELDS)
        return await _geoip_page(request, form, refusal_status(exc))
    return redirect(f"/admin/geoip?done=added-{made.id}")


async def correction_remove(request: web.Request) -> web.StreamResponse:
    correction_id = match_id(request)
    posted = await request.post()
    form = Form(values={"reason": text(posted, "reason"), "id": correction_id})
    try:
        await request.app[RUNTIME].remove_correction(correction_id, form.values["reason"],
                                                     actor(request))
    except JoingateError as exc:
        form.fail(exc, ("reason",))
        return await _geoip_page(request, Form(), refusal_status(exc), remove_form=form)
    return redirect(f"/admin/geoip?done=removed-{correction_id}")


ROUTES = [Route("GET", "/geoip", geoip_show),
          Route("POST", "/geoip/corrections", correction_create),
          Route("POST", "/geoip/corrections/{id}/remove", correction_remove)]
