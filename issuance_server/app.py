"""The composition root: builds the core and mounts the sub-applications (the only place the core meets
``registration`` and ``recovery``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from issuance_server import status_api
from issuance_server.access import access_middleware
from issuance_server.api_errors import BODY_TIMEOUT, error_middleware
from issuance_server.audit.guard import checkpoint_loop
from issuance_server.backups.backup import backup_loop
from issuance_server.cluster.nodes import NodeFollower
from issuance_server.core import CORE, ServerCore
from issuance_server.issuing import verify_api
from issuance_server.issuing.documents import sweep_unprinted
from issuance_server.kiosks.api import authenticate_kiosk, make_kiosk_app
from issuance_server.registrations.card_crl import crl_loop, refresh_crl
from issuance_server.settings import Settings
from issuance_server.staff.auth import authenticate_staff
from recovery.link import link_context
from recovery.ops_app import authenticate_ops, make_ops_app
from registration.clerk_app import make_clerk_app
from wire.kiosk_api import API_PREFIX

log = logging.getLogger("konbini.server")


async def _answer_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, aiohttp's own errors included: never cached (certificates, names), no type sniffing,
    no version banner."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = "konbini"


def make_app(settings: Settings) -> web.Application:
    access = access_middleware(
        {"kiosk": authenticate_kiosk, "staff": authenticate_staff, "ops": authenticate_ops}
    )  # one place for who may call what; each route declares its rule
    app = web.Application(middlewares=[error_middleware, access], client_max_size=settings.max_body_bytes)
    app[BODY_TIMEOUT] = settings.body_timeout_s

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        core = await ServerCore.start(settings)
        app[CORE] = core
        await core.guard.checkpoint()  # the trail checked at every start (rows written while stopped signed)
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(sweep_unprinted(core), name="sweep-unprinted"),
            loop.create_task(
                checkpoint_loop(core.guard, settings.audit_checkpoint_s),
                name="audit-checkpoints",
            ),
        ]
        tasks.append(loop.create_task(backup_loop(core), name="daily-backup"))
        follower = NodeFollower(core, core.node)
        await follower.seen()  # this incarnation is known (its predecessor's claims are taken over) first
        tasks.append(loop.create_task(follower.run(), name="cluster-follower"))
        if settings.crl_source is not None:
            await refresh_crl(core, settings.crl_source)
            tasks.append(loop.create_task(crl_loop(core, settings.crl_source), name="card-crl"))
        phones = core.credentials.phone
        if settings.phone_crl_source is not None and core.credentials.phones_accepted():
            await refresh_crl(core, settings.phone_crl_source, trust=phones)
            tasks.append(
                loop.create_task(crl_loop(core, settings.phone_crl_source, phones), name="phone-crl")
            )
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await core.guard.checkpoint()  # the head at shutdown
        await core.close()

    app.on_response_prepare.append(_answer_headers)
    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(link_context)
    app.add_routes(status_api.routes)
    app.add_routes(verify_api.routes)
    app.add_subapp(API_PREFIX, make_kiosk_app())
    app.add_subapp("/clerk", make_clerk_app())
    app.add_subapp("/ops", make_ops_app())
    return app
