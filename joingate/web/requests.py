"""Authority requests: the list, the form to record one, and a request's page with the
restrictions made for it and the form to record the decision."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import RUNTIME
from ..errors import JoingateError, NotFound
from ..jurisdiction import jurisdictions
from ..restrictions import utc_now
from .forms import Form, lines, match_id, optional, refusal_status, text
from .pages import redirect, render
from .session import Route, actor

REQUEST_FIELDS = ("authority", "jurisdiction", "reference", "rooms", "demand", "received_at")
DECISION_FIELDS = ("outcome", "note")


async def requests_list(request: web.Request) -> web.StreamResponse:
    items = list(reversed(await request.app[RUNTIME].requests()))
    return render(request, "requests.html", title="Authority requests", requests=items)


async def request_new(request: web.Request) -> web.StreamResponse:
    return render(request, "request_form.html", title="Record an authority request",
                  form=Form())


async def request_create(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    values = {name: text(posted, name) for name in REQUEST_FIELDS}
    fields = {**values, "rooms": lines(values["rooms"]),
              "received_at": optional(values["received_at"])}
    form = Form(values=values)
    try:
        made = await request.app[RUNTIME].add_request(fields, actor(request))
    except JoingateError as exc:
        form.fail(exc, REQUEST_FIELDS)
        return render(request, "request_form.html", refusal_status(exc),
                      title="Record an authority request", form=form)
    return redirect(f"/admin/requests/{made.id}?done=recorded")


async def _request_page(request: web.Request, request_id: int, form: Form,
                        status: int = 200) -> web.Response:
    rt = request.app[RUNTIME]
    found = await rt.request(request_id)
    now = utc_now()
    produced = []
    for rid in found.restrictions:
        try:
            produced.append((await rt.restriction(rid)).as_json(now))
        except NotFound:
            continue
    covers = sorted(jurisdictions().get(found.jurisdiction).covers)
    return render(request, "request.html", status, title=f"Request {found.reference}",
                  req=found.as_json(), produced=produced, covers=covers, form=form,
                  done=request.query.get("done"))


async def request_show(request: web.Request) -> web.StreamResponse:
    return await _request_page(request, match_id(request), Form())


async def request_decide(request: web.Request) -> web.StreamResponse:
    request_id = match_id(request)
    posted = await request.post()
    form = Form(values={name: text(posted, name) for name in DECISION_FIELDS})
    try:
        await request.app[RUNTIME].decide_request(request_id, form.values["outcome"],
                                                  form.values["note"], actor(request))
    except NotFound:
        raise
    except JoingateError as exc:
        form.fail(exc, DECISION_FIELDS)
        return await _request_page(request, request_id, form, refusal_status(exc))
    return redirect(f"/admin/requests/{request_id}?done=decided")


ROUTES = [Route("GET", "/requests", requests_list),
          Route("GET", "/requests/new", request_new),
          Route("POST", "/requests", request_create),
          Route("GET", "/requests/{id}", request_show),
          Route("POST", "/requests/{id}/decision", request_decide)]
