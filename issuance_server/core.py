"""The server core: everything a request handler needs, built once at start and closed at stop."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from issuance_server.audit import store as audit_store
from issuance_server.audit.checkpoints import CheckpointLog
from issuance_server.audit.guard import AuditGuard
from issuance_server.audit.trail import AuditLog
from issuance_server.certificates import pades
from issuance_server.certificates.pades import PadesSigner
from issuance_server.certificates.render import warm_up
from issuance_server.cluster import store as cluster_store
from issuance_server.cluster.identity import NodeIdentity
from issuance_server.enrolment.kiosks import EnrolledKiosks
from issuance_server.keyed_locks import KeyedLocks
from issuance_server.kiosks.sessions import SessionStore
from issuance_server.metrics import Metrics
from issuance_server.modes.state import ModeState, load_mode
from issuance_server.registrations.card_auth import CardTrust, CredentialTrust
from issuance_server.replica.freshness import Freshness
from issuance_server.replica.generations import ReplicaGenerations, replica_of
from issuance_server.secret_hashing import SecretHasher
from issuance_server.secrets_store import ServerSecrets, load_or_create_secrets
from issuance_server.server_tls import ServerTls, ensure_server_tls, registry_ssl
from issuance_server.service_hours import ServiceCalendar
from issuance_server.settings import Settings
from issuance_server.storage.engine import Engine
from issuance_server.storage.engines import open_engine
from issuance_server.thread_names import named_pool
from wire.credentials import Form, PinPolicy

log = logging.getLogger("konbini.server")


@dataclass
class ServerCore:
    settings: Settings
    db: Engine
    secrets: ServerSecrets
    hasher: SecretHasher
    audit: AuditLog
    guard: AuditGuard  # checks and checkpoints the audit trail; holds kiosks while it is broken
    replica: ReplicaGenerations
    credentials: CredentialTrust  # the card CA's and the smartphone CA's certificates
    sessions: SessionStore
    calendar: ServiceCalendar
    mode_state: ModeState
    render_pool: ThreadPoolExecutor
    pades_signer: PadesSigner
    tls: ServerTls  # the CAs and certificate; kiosk certificates are issued from its kiosk CA
    registry_ssl: ssl.SSLContext | None  # the registry link's client context (None: http on loopback)
    metrics: Metrics
    node: NodeIdentity  # this node among the nodes on one database
    freshness: Freshness | None = None  # installed by the registry link (recovery/); None: no probes
    link_status: Callable[[], dict[str, Any]] | None = None  # the registry link's state, for status pages
    holds_lease: Callable[[], bool] = lambda: True  # this node holds the registry lease (the link says)
    counters: dict[str, int] = field(default_factory=dict)
    pin_turns: KeyedLocks = field(default_factory=KeyedLocks)  # PIN attempts on a registration, in turn
    enrolled_kiosks: EnrolledKiosks = field(default_factory=EnrolledKiosks)  # kiosk certificates checked
    draining: bool = False  # this node: /healthz says so, and the load balancer sends it nothing new
    # The nodes' shared wall clock (NTP keeps them within milliseconds): issue claims and node liveness,
    # windows of seconds compared across nodes. Kiosk sessions count on ``sessions.now`` (steady).
    wall_clock: Callable[[], float] = time.time

    @property
    def mode(self) -> str:
        return self.mode_state.mode

    @classmethod
    async def start(cls, settings: Settings) -> ServerCore:
        calendar = ServiceCalendar.parse(
            settings.service_hours, settings.closed_days, settings.maintenance_windows
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)  # a folder made before umask 077 was the rule: closed now
        secrets = load_or_create_secrets(settings.data_dir)
        pades.create_signing_identity(
            settings.secrets_dir, settings.data_dir / "keys", settings.municipality_name
        )
        # pyHanko runs its own event loop: load (and measure) the signer in a thread.
        signer = await asyncio.to_thread(pades.load_signer, settings.secrets_dir, settings.data_dir / "keys")
        render_pool = named_pool(2, "render")
        # Fonts, outlines, the 地紋 tile: ~0.5 s once per render thread, not on the first certificates.
        await asyncio.gather(
            *(asyncio.get_running_loop().run_in_executor(render_pool, warm_up) for _ in range(2))
        )
        metrics = Metrics()
        db = await open_engine(settings)
        replica = replica_of(db, settings.data_dir)
        await replica.attach_current()
        mode_state = await load_mode(db)
        checkpoints = CheckpointLog(settings.audit_checkpoints_path, secrets.audit_signing_key)
        node = NodeIdentity.of(settings.node_name, settings.port)
        # A node new to a cluster on PostgreSQL begins its own checkpoint log beside a trail other nodes wrote:
        # its first checkpoint (at start) checks the whole chain from the start before it signs. A node that
        # ran here before and lost its log is reported, as a lone server is.
        joining = db.kind == "postgresql" and not await db.read(partial(cluster_store.known, node=node.name))
        checkpoints.begin(trail_is_empty=joining or await db.read(audit_store.is_empty))
        audit = AuditLog(db, secrets.audit_chain_key)
        from issuance_server.enrolment.ops_tokens import (  # it imports this module
            finish_rotation,
            register_local,
        )

        if (rotated := await finish_rotation(db, settings.secrets_dir)) is not None:
            secrets = dataclasses.replace(secrets, ops_token=rotated)
        await register_local(db, secrets.ops_token)
        core = cls(
            settings=settings,
            db=db,
            secrets=secrets,
            hasher=SecretHasher(settings, secrets.pin_pepper, on_time=metrics.argon2),
            audit=audit,
            guard=AuditGuard(db, audit, secrets.audit_chain_key, checkpoints),
            replica=replica,
            credentials=credential_trust(settings),
            sessions=SessionStore(
                db,
                settings.nonce_ttl_s,
                settings.session_idle_s,
                settings.kiosk_max_open_sessions,
                settings.kiosk_session_opens_per_minute,
            ),
            calendar=calendar,
            mode_state=mode_state,
            render_pool=render_pool,
            pades_signer=signer,
            tls=ensure_server_tls(settings),
            registry_ssl=registry_ssl(settings) if settings.registry_link else None,
            metrics=metrics,
            node=node,
        )
        metrics.watch(core)
        return core

    async def close(self) -> None:
        self.hasher.close()
        self.render_pool.shutdown(wait=False)
        await self.db.close()

    @property
    def card_trust(self) -> CardTrust:
        """The card CA's certificates (a card registration takes no phone)."""
        return self.credentials.card

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


def credential_trust(settings: Settings) -> CredentialTrust:
    return CredentialTrust(
        CardTrust(settings.card_ca_cert, settings.crl_source is not None, settings.card_crl_max_stale_s),
        # A phone is checked for revocation whenever a card is: with no source for its CRL it is refused
        # (card_revocation_unknown), never let in unchecked.
        CardTrust(
            settings.phone_ca_cert,
            settings.phone_crl_required,
            settings.card_crl_max_stale_s, what="smartphone",
        ),
        {Form.ANDROID: settings.phone_android_policy, Form.IPHONE: settings.phone_iphone_policy},
        {Form.ANDROID: PinPolicy(settings.phone_pin_android), Form.IPHONE: PinPolicy(settings.phone_pin_iphone)},
    )  # fmt: skip


CORE: web.AppKey[ServerCore] = web.AppKey("core", ServerCore)


def core_of(request: web.Request) -> ServerCore:
    return request.config_dict[CORE]


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token, for any text a header carries: aiohttp keeps a byte that is not UTF-8 as
    a lone surrogate, which is hashed as it is (matching no token) instead of failing."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
