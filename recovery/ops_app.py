"""The ops sub-application (``/ops/api``): sync, status, kiosk enrolment, audit-chain check.

Authenticated with the ops bearer token generated at first start (``var/secrets/ops-token``); staff
logins with roles and TOTP for ops arrive with the ops web pages.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from issuance_server.access import OPS, Rule, actor_of, allow, ops_or, staff
from issuance_server.api_errors import ApiError, field, json_response, read_json
from issuance_server.audit import review as audit_review
from issuance_server.audit.review_report import report_pdf
from issuance_server.audit.trail import Actor
from issuance_server.backups.backup import BACKUP_FAILURES, backup_now, list_backups
from issuance_server.cluster import store as cluster_store
from issuance_server.cluster.nodes import cluster_status
from issuance_server.core import ServerCore, core_of
from issuance_server.enrolment import kiosks as kiosk_enrolment
from issuance_server.enrolment import ops_tokens
from issuance_server.issuing import documents
from issuance_server.modes.state import MODES, switch_mode
from issuance_server.replica import store as replica_store
from issuance_server.server_tls import KioskCsrError
from issuance_server.staff.auth import authenticate_staff, lift_lockout
from recovery.consistency import check_consistency
from recovery.feed_page import FeedBroken, RegistryUnavailable
from recovery.link import LINK
from recovery.reconcile import reconcile
from recovery.snapshot_sync import SnapshotSync, SyncError
from wire.cert_record import public_key_pem
from wire.clock import steady_time
from wire.kiosk_api import Mode
from wire.tls import cert_pem

routes = web.RouteTableDef()
ROTATION: web.AppKey[asyncio.Lock] = web.AppKey("local_token_rotation", asyncio.Lock)


async def authenticate_ops(request: web.Request, rule: Rule) -> Actor:
    """The access middleware's authenticator for ops routes: a staff member holding the ``ops`` role, who
    then acts as themselves in the audit trail, or the shared ops token (for automation)."""
    core = core_of(request)
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip()
    name = await ops_tokens.name_of(core.db, token) if auth.startswith("Bearer ") and token else None
    if name == ops_tokens.LOCAL and not ops_tokens.from_this_machine(request):
        raise ApiError(
            401, "ops_unauthorized",
            "the local ops token works only on the server machine itself; elsewhere use a named token"
            " (konbini-ops token-add) or log in as staff with the ops role",
        )  # fmt: skip
    if name is not None:
        return Actor("ops", f"token:{name}", "ops", request.remote or "")
    try:
        return await authenticate_staff(request, staff("ops"))
    except ApiError as exc:
        if exc.code == "role_required" and rule.role:  # the route also admits another role
            return await authenticate_staff(request, staff(rule.role))
        if exc.code == "role_required":
            raise
        raise ApiError(
            401,
            "ops_unauthorized",
            "log in as staff with the ops role, or use the ops token (var/secrets/ops-token)",
        ) from None


def ops_actor(request: web.Request) -> tuple[ServerCore, Actor]:
    return core_of(request), actor_of(request)


def snapshot_sync(request: web.Request, core: ServerCore) -> SnapshotSync:
    """The link's own sync, so a full sync by hand and a resync by the link never run at once."""
    return request.config_dict[LINK].sync


async def lease_holder_only(request: web.Request, core: ServerCore) -> None:
    """Replica work (a full sync, a consistency check) is the registry lease holder's: another node says
    which node to ask."""
    if request.config_dict[LINK].leading:
        return
    lease = await core.db.read(cluster_store.lease)
    holder = lease["holder"] if lease is not None and lease["holder"] else "no node yet"
    raise ApiError(
        409, "not_lease_holder",
        f"this node does not follow the registry; the lease holder ({holder}) does: ask it with --server",
        holder=holder,
    )  # fmt: skip


@routes.post("/api/sync/full")
@allow(OPS)
async def start_full_sync(request: web.Request) -> web.Response:
    core, actor = ops_actor(request)
    await lease_holder_only(request, core)
    sync = snapshot_sync(request, core)
    started = sync.start(actor)
    return json_response(
        {"started": started, "progress": sync.progress.as_json()}, status=202 if started else 409
    )


@routes.get("/api/sync")
@allow(OPS)
async def sync_progress(request: web.Request) -> web.Response:
    core, _ = ops_actor(request)
    return json_response(snapshot_sync(request, core).progress.as_json())


@routes.get("/api/status")
@allow(OPS)
async def status(request: web.Request) -> web.Response:
    core, _ = ops_actor(request)
    ready, now = core.replica.ready, time.time()
    state, meta, cluster, doubts = await core.db.read(
        lambda tx: (
            replica_store.sync_state(tx),
            replica_store.replica_meta(tx) if ready else {},
            cluster_status(tx, now),
            documents.prints_in_doubt(tx),
        )
    )
    return json_response(
        {
            "mode": core.mode_state.as_json(),
            "link": request.config_dict[LINK].status(),
            "replica": {**(state or {}), "meta": meta},
            "open_kiosk_sessions": await core.sessions.count_open(),
            # how far the wall clock stepped since this node started (kiosk sessions count on the start's)
            "clock_step_s": round(time.time() - steady_time(), 3),
            "prints_in_doubt": doubts,
            "draining": core.draining,
            "node": core.node.name,
            "cluster": cluster,
            "sync": snapshot_sync(request, core).progress.as_json(),
            "audit_hold": core.guard.hold_json(),
        }
    )


@routes.post("/api/drain")
@allow(OPS)
async def drain(request: web.Request) -> web.Response:
    """Take this node out of the load balancer (``/healthz`` answers 503 draining) or put it back."""
    core, actor = ops_actor(request)
    data = await read_json(request, core.settings.max_body_bytes)
    draining = field(data, "draining", bool)
    changed = core.draining != draining
    if changed:
        core.draining = draining
        await core.audit.append(actor, "node_drain", "draining" if draining else "serving")
    return json_response({"draining": core.draining, "changed": changed})


@routes.post("/api/mode")
@allow(OPS)
async def set_mode(request: web.Request) -> web.Response:
    """Switch by hand: recovery or maintenance stays until ops releases it with mode 'normal'."""
    core, actor = ops_actor(request)
    data = await read_json(request, core.settings.max_body_bytes)
    mode = field(data, "mode", str)
    reason = field(data, "reason", str, required=False, default="")
    if mode not in MODES:
        raise ApiError(400, "bad_field", f"mode must be one of {', '.join(MODES)}", field="mode")
    if mode != Mode.NORMAL and not reason.strip():
        raise ApiError(400, "bad_field", "say why (reason) when switching by hand", field="reason")
    if mode == Mode.NORMAL and not core.mode_state.manual:
        # Nothing is held by hand: the link decides (a no-op, not a detour through recovery).
        return json_response({"changed": False, "mode": core.mode_state.as_json()})
    if mode == Mode.NORMAL:
        # Release: the replica was not followed meanwhile, so stay in (automatic) recovery until the link
        # has caught up with the registry; the link then switches to normal itself. Without a registry
        # link configured there is nothing to catch up with.
        following = core.freshness is not None
        target, why = (
            (Mode.RECOVERY, "released by ops; catching up") if following else (Mode.NORMAL, "released by ops")
        )
        changed = await switch_mode(
            core.db, core.secrets.audit_chain_key, core.mode_state, target, False, reason or why, actor
        )
    else:
        changed = await switch_mode(
            core.db, core.secrets.audit_chain_key, core.mode_state, mode, True, reason, actor
        )
    return json_response({"changed": changed, "mode": core.mode_state.as_json()})


@routes.post("/api/kiosks")
@allow(OPS)
async def enrol_kiosk(request: web.Request) -> web.Response:
    """Enrol (or re-key) a kiosk: its key stays on the kiosk; the kiosk CA signs a client certificate for
    the public key in ``csr``, and the kiosk's previous certificate stops working."""
    core, actor = ops_actor(request)
    data = await read_json(request, core.settings.max_body_bytes)
    kiosk_id = _kiosk_id(field(data, "kiosk_id", str))
    location = field(data, "location", str, required=False, default="")
    csr = field(data, "csr", str)
    try:
        cert = core.tls.issue_kiosk_certificate(kiosk_id, csr, core.settings.kiosk_cert_days)
    except KioskCsrError as exc:
        raise ApiError(400, "bad_field", str(exc), field="csr") from None
    await kiosk_enrolment.enrol(core, actor, kiosk_id, location, cert)
    return json_response(
        {
            "kiosk_id": kiosk_id,
            "certificate": cert_pem(cert).decode(),
            "server_ca": core.tls.city_ca_path.read_text(),
            "issuing_key": public_key_pem(core.secrets.issuing_public_key).decode(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        },
        status=201,
    )


@routes.delete("/api/kiosks/{kiosk_id}")
@allow(OPS)
async def remove_kiosk(request: web.Request) -> web.Response:
    """Remove a kiosk: its certificate is refused from the next request on; its open sessions end."""
    core, actor = ops_actor(request)
    kiosk_id = _kiosk_id(request.match_info["kiosk_id"])
    if not await kiosk_enrolment.remove(core, actor, kiosk_id):
        raise ApiError(404, "kiosk_unknown", f"no enrolled kiosk {kiosk_id}")
    ended = await core.sessions.end_for_kiosk(kiosk_id)
    return json_response({"kiosk_id": kiosk_id, "removed": True, "sessions_ended": ended})


@routes.get("/api/kiosks")
@allow(OPS)
async def list_kiosks(request: web.Request) -> web.Response:
    core, _ = ops_actor(request)
    return json_response({"kiosks": await kiosk_enrolment.listing(core.db)})


@routes.post("/api/backups")
@allow(OPS)
async def backup(request: web.Request) -> web.Response:
    """Take a backup now and prove it by a restore check (the server also takes one daily)."""
    core, actor = ops_actor(request)
    try:
        made = await backup_now(core, actor)
    except BACKUP_FAILURES as exc:
        raise ApiError(503, "backup_failed", f"the backup failed: {exc}") from None
    return json_response({"backup": made.folder.name, **made.manifest}, status=201)


@routes.get("/api/backups")
@allow(OPS)
async def backups(request: web.Request) -> web.Response:
    core, _ = ops_actor(request)
    found = await asyncio.to_thread(list_backups, core.settings)
    return json_response({"backups": [{"backup": b.folder.name, **b.manifest} for b in found]})


@routes.post("/api/staff/{staff_id}/unlock")
@allow(OPS)
async def unlock_staff(request: web.Request) -> web.Response:
    """Lift a staff account's lockout (after too many failed logins)."""
    core, actor = ops_actor(request)
    staff_id = request.match_info["staff_id"]
    await lift_lockout(core, actor, staff_id)
    return json_response({"staff_id": staff_id, "unlocked": True})


def _kiosk_id(kiosk_id: str) -> str:
    if not (1 <= len(kiosk_id) <= 40) or not kiosk_id.replace("-", "").isalnum() or not kiosk_id.isascii():
        raise ApiError(400, "bad_field", "kiosk_id: 1-40 ASCII letters, digits or '-'", field="kiosk_id")
    return kiosk_id


@routes.get("/api/audit/verify")
@allow(ops_or("auditor"))
async def audit_verify(request: web.Request) -> web.Response:
    core, _ = ops_actor(request)
    report = await core.guard.full_report()
    return json_response({**report.as_json(), "hold": core.guard.hold_json()})


@routes.post("/api/audit/acknowledge")
@allow(OPS)
async def audit_acknowledge(request: web.Request) -> web.Response:
    """Record that ops checked a broken audit trail (``reason``: what they found and did); kiosks are
    served again and the trail is checked from here on. 409 when the trail is intact."""
    core, actor = ops_actor(request)
    data = await read_json(request, core.settings.max_body_bytes)
    reason = field(data, "reason", str).strip()
    if not 10 <= len(reason) <= 300:
        raise ApiError(
            400, "bad_field", "reason: 10-300 characters saying what was found and done", field="reason"
        )
    done = await core.guard.acknowledge(actor, reason)
    if not done:
        raise ApiError(409, "audit_intact", "the audit trail is intact: nothing to acknowledge")
    return json_response({"acknowledged": done, "hold": core.guard.hold_json()})


@routes.get("/api/tokens")
@allow(OPS)
async def tokens(request: web.Request) -> web.Response:
    return json_response({"tokens": await ops_tokens.listed(core_of(request))})


@routes.post("/api/tokens")
@allow(OPS)
async def add_token(request: web.Request) -> web.Response:
    """A named token for automation, shown once in this answer."""
    core, actor = ops_actor(request)
    data = await read_json(request, core.settings.max_body_bytes)
    name = field(data, "name", str)
    days = field(data, "days", int, required=False)
    return json_response({"name": name, **await ops_tokens.add(core, actor, name, days)}, status=201)


@routes.post("/api/tokens/local/rotate")
@allow(OPS)
async def rotate_local_token(request: web.Request) -> web.Response:
    """A new ``local`` token, written to ``secrets/ops-token`` on the server machine (never sent): only from
    the server machine itself."""
    core, actor = ops_actor(request)
    if not ops_tokens.from_this_machine(request):
        raise ApiError(403, "not_this_machine", "rotate the local ops token on the server machine itself")
    async with request.app[ROTATION]:  # one at a time: the file and the database name the same token
        await ops_tokens.rotate_local(core, actor)
    return json_response({"name": ops_tokens.LOCAL, "rotated": True, "file": "secrets/ops-token"})


@routes.delete("/api/tokens/{name}")
@allow(OPS)
async def revoke_token(request: web.Request) -> web.Response:
    core, actor = ops_actor(request)
    name = request.match_info["name"]
    if actor.actor_id == f"token:{name}":
        raise ApiError(409, "own_token", "revoke a token with another one (or as staff), not with itself")
    await ops_tokens.revoke(core, actor, name)
    return json_response({"name": name, "revoked": True})


@routes.get("/api/audit/review")
@allow(ops_or("auditor"))
async def audit_review_of_month(request: web.Request) -> web.Response:
    """The month's review of the operation logs (``month=YYYY-MM``, JST), as JSON or ``format=pdf``."""
    core, actor = ops_actor(request)
    month = request.query.get("month", "")
    shape = request.query.get("format", "json")
    if shape not in ("json", "pdf"):
        raise ApiError(400, "bad_field", "format: json or pdf", field="format")
    try:
        figures = await audit_review.figures_of(core, month)
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="month") from None
    await core.audit.append(actor, "audit_review_read", "ok", None, month=month)
    if shape == "pdf":
        pdf = await asyncio.to_thread(
            report_pdf, figures, core.settings.municipality_name, figures["reviewed"]
        )
        return web.Response(body=pdf, content_type="application/pdf")
    return json_response(figures)


@routes.get("/api/reconcile")
@allow(OPS)
async def reconciliation(request: web.Request) -> web.Response:
    core, actor = ops_actor(request)
    items = await reconcile(core, request.query.get("since"))
    await core.audit.append(actor, "reconcile", "ok", None, items=len(items))
    return json_response({"items": items})


@routes.post("/api/consistency")
@allow(OPS)
async def consistency(request: web.Request) -> web.Response:
    core, actor = ops_actor(request)
    data = await read_json(request, core.settings.max_body_bytes) if request.can_read_body else {}
    repair = field(data, "repair", bool, required=False, default=False)
    await lease_holder_only(request, core)
    if (
        core.mode != Mode.NORMAL
    ):  # the check brings the replica up to the registry's seq: not while it is held
        raise ApiError(
            409,
            "read_only_mode",
            f"the replica is read-only in {core.mode} mode; run the check after `konbini-ops mode normal`",
        )
    try:
        result = await check_consistency(request.config_dict[LINK], actor, repair)
    except (RegistryUnavailable, FeedBroken, SyncError) as exc:
        raise ApiError(503, "registry_unreachable", f"the check could not read the registry: {exc}") from None
    return json_response(result)


def make_ops_app() -> web.Application:
    app = web.Application()
    app[ROTATION] = asyncio.Lock()
    app.add_routes(routes)
    return app
