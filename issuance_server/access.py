"""Who may call each route, declared once per route and enforced by one middleware, deny by default.

Every handler carries a :class:`Rule` (``@allow(PUBLIC)``, ``@allow(KIOSK)``, ``@allow(staff("counter"))``,
``@allow(OPS)``); the middleware authenticates the caller for that rule before the handler runs and puts
the :class:`~issuance_server.audit.trail.Actor` in the request (:func:`actor_of`). A route without a rule is
refused (``route_undeclared``), so a new route cannot be reached by accident. The authenticators for
kiosks, staff and ops come from the composition root (``issuance_server/app.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import Actor


@dataclass(frozen=True)
class Rule:
    who: str  # public, kiosk, staff, ops
    role: str | None = None  # staff: the role the route needs; ops: a staff role that may also call it

    def __str__(self) -> str:
        if self.who == "staff":
            return f"staff:{self.role or 'any'}"
        return f"ops+staff:{self.role}" if self.who == "ops" and self.role else self.who


PUBLIC = Rule("public")
KIOSK = Rule("kiosk")
OPS = Rule("ops")


def staff(*roles: str) -> Rule:
    """A staff route for whoever holds one of ``roles``."""
    return Rule("staff", "|".join(roles))


ANY_STAFF = Rule("staff")  # any logged-in staff member, whatever their roles (their own session)


def ops_or(role: str) -> Rule:
    """An ops route that staff holding ``role`` may call too (e.g. an auditor checking the audit trail)."""
    return Rule("ops", role)


ACTOR: web.RequestKey[Actor] = web.RequestKey("actor", Actor)
Authenticator = Callable[[web.Request, Rule], Awaitable[Actor]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Any])


def allow(rule: Rule) -> Callable[[H], H]:
    """Declare who may call the decorated handler (put it under the route decorator)."""

    def mark(handler: H) -> H:
        handler.access_rule = rule  # type: ignore[attr-defined]
        return handler

    return mark


def rule_of(handler: Any) -> Rule | None:
    return getattr(handler, "access_rule", None)


def actor_of(request: web.Request) -> Actor:
    """The caller the access middleware authenticated for this route."""
    return request[ACTOR]


def access_middleware(authenticators: dict[str, Authenticator]) -> Any:
    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:
            return await handler(request)  # no route: 404 / 405, shaped by the error middleware
        rule = rule_of(request.match_info.route.handler)
        if rule is None:
            raise ApiError(403, "route_undeclared", "this route does not say who may call it")
        if rule.who != "public":
            request[ACTOR] = await authenticators[rule.who](request, rule)
        return await handler(request)

    return access
