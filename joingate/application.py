"""The service's HTTP application, put together: the API is the root application (its routes
run no middleware), the admin pages a sub-application mounted at /admin with their own, and
the public pages (/transparency, /static/) two routes of the root. The one module that
imports both joingate.api and joingate.web.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .api.app import api_app
from .runtime import Runtime
from .web.admin import PREFIX, admin_app
from .web.pages import Pages
from .web.public import add_public_pages


def build_app(runtime: Runtime) -> web.Application:
    """The application; it starts the runtime when it starts, and stops it when it stops."""
    app = api_app(runtime)
    pages = Pages.load()
    app.add_subapp(PREFIX, admin_app(runtime, pages))
    add_public_pages(app, pages)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()
    app.cleanup_ctx.append(lifecycle)
    return app
