"""The key under which every aiohttp application of the service holds the runtime: the API
(the root application), the admin sub-application and the public pages all import it from
here, never from each other."""

from __future__ import annotations

from aiohttp import web

from .runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
