"""The census: current participants per meeting and country, as counts, from the plugin."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from ..appkeys import RUNTIME
from ..jurisdiction import jurisdictions
from .pages import render
from .session import Route


async def census(request: web.Request) -> web.StreamResponse:
    view = await request.app[RUNTIME].census_view()
    rooms: Mapping[str, Mapping[str, int]] = view.get("rooms") or {}
    countries = sorted({c for counts in rooms.values() for c in counts if c})
    rows = []
    for room in sorted(rooms):
        counts = rooms[room]
        rows.append((room, [counts.get(c, 0) for c in countries], counts.get("", 0),
                     sum(counts.values()), sum((view.get("disputed") or {}).get(room, {})
                                               .values())))
    return render(request, "census.html", title="Census", rows=rows, countries=countries,
                  updated_at=view.get("updated_at"), sources=view.get("sources") or [],
                  country_names=jurisdictions().country_names)


ROUTES = [Route("GET", "/census", census)]
