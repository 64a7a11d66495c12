"""``/control/*``: what tests use to steer the sim. Never affected by faults.

GET|POST /control/faults    the fault state / change it (partial update)
POST /control/apply         {"changes": [...]} in one transaction -> {"epoch", "seqs", "versions", "last_seq"}
POST /control/gap           {"skip": n, "changes": [...]?} -> {"epoch", "skipped": [first, last], "last_seq"}
POST /control/reset         -> {"epoch", "previous_epoch", "last_seq": 0}
GET|POST /control/generate  the change generator's state / {"rate", "duration_s", "seed"} (rate 0 stops)
"""

from __future__ import annotations

import logging
import random
from functools import partial
from typing import Any, TypeGuard

from aiohttp import web

from registry_sim.changelog import MAX_CHANGES_PER_REQUEST, ChangeError, StoreMissing, StoreWriter
from registry_sim.churn import MAX_RATE
from registry_sim.sim import Sim
from registry_sim.web_util import BadRequest, error_response, json_object, json_response

log = logging.getLogger("registry_sim")
_MAX_SKIP = 1_000_000_000


def add_routes(app: web.Application, key: web.AppKey[Sim]) -> None:
    handlers = {
        ("GET", "/control/faults"): get_faults,
        ("POST", "/control/faults"): set_faults,
        ("POST", "/control/apply"): apply,
        ("POST", "/control/gap"): gap,
        ("POST", "/control/reset"): reset,
        ("GET", "/control/generate"): get_generate,
        ("POST", "/control/generate"): set_generate,
    }
    for (method, path), handler in handlers.items():
        app.router.add_route(method, path, _bind(handler, key))


def _bind(handler: Any, key: web.AppKey[Sim]) -> Any:
    async def bound(request: web.Request) -> web.Response:
        try:
            response: web.Response = await handler(request, request.app[key])
        except BadRequest as exc:
            return exc.response()
        except ChangeError as exc:
            details = {} if exc.index is None else {"index": exc.index}
            return error_response(400, "bad_change", str(exc), **details)
        except StoreMissing:
            return error_response(503, "no_data", "the registry database does not exist yet")
        return response

    return bound


async def get_faults(request: web.Request, sim: Sim) -> web.Response:
    return json_response(sim.faults.as_dict())


async def set_faults(request: web.Request, sim: Sim) -> web.Response:
    changes = await json_object(request)
    try:
        sim.faults.update(changes)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_fault") from None
    log.info("faults set: %s", sim.faults.as_dict())
    return json_response(sim.faults.as_dict())


def _changes(body: dict[str, Any], required: bool = True) -> list[Any]:
    changes = body.get("changes", None if required else [])
    if not isinstance(changes, list) or len(changes) > MAX_CHANGES_PER_REQUEST:
        raise BadRequest(f"'changes' must be a list of at most {MAX_CHANGES_PER_REQUEST} changes")
    return changes


async def apply(request: web.Request, sim: Sim) -> web.Response:
    changes = _changes(await json_object(request))
    return json_response(await sim.write(partial(StoreWriter.apply, changes=changes)))


async def gap(request: web.Request, sim: Sim) -> web.Response:
    body = await json_object(request)
    skip = body.get("skip")
    if not isinstance(skip, int) or isinstance(skip, bool) or not 1 <= skip <= _MAX_SKIP:
        raise BadRequest(f"'skip' must be an integer from 1 to {_MAX_SKIP}")
    changes = _changes(body, required=False)
    answer = await sim.write(partial(StoreWriter.gap, skip=skip, changes=changes))
    log.info("sequence gap of %d made (fault injection)", skip)
    return json_response(answer)


async def reset(request: web.Request, sim: Sim) -> web.Response:
    await json_object(request, empty_ok=True)
    answer = await sim.write(StoreWriter.reset)
    log.info("sequence reset: new epoch (fault injection)")
    return json_response(answer)


async def get_generate(request: web.Request, sim: Sim) -> web.Response:
    return json_response(sim.churn.state())


async def set_generate(request: web.Request, sim: Sim) -> web.Response:
    body = await json_object(request)
    unknown = set(body) - {"rate", "duration_s", "seed"}
    if unknown:
        raise BadRequest(f"unknown setting(s): {', '.join(sorted(unknown))}")
    rate, duration, seed = body.get("rate"), body.get("duration_s"), body.get("seed")
    if not _number(rate) or not 0 <= rate <= MAX_RATE:
        raise BadRequest(f"'rate' must be a number of changes per second from 0 to {MAX_RATE:.0f}")
    if duration is not None and (not _number(duration) or duration <= 0):
        raise BadRequest("'duration_s' must be a positive number of seconds or null (until stopped)")
    if seed is None:
        seed = random.randrange(2**31)  # noqa: S311  synthetic data or a port to try, not a secret
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise BadRequest("'seed' must be an integer")
    if rate == 0:
        await sim.churn.stop()
    else:
        await sim.churn.start(float(rate), None if duration is None else float(duration), seed)
    return json_response(sim.churn.state())


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
