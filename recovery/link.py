"""The registry link: follows the change feed, confirms record versions before issuing, and switches the
server between normal and recovery mode through a circuit breaker.

One background task polls the feed and applies each page in one transaction (feed_apply). Registry
failures feed the breaker; when it opens the server switches to recovery (unless ops set a mode by hand)
and stops applying changes. After the cool-down it probes; when the registry answers it catches up
with the feed and only then switches back to normal. A feed the follower cannot continue (a sequence
reset or gap) triggers a full snapshot resync.

Of several nodes on one database only the holder of the registry lease (``cluster.lease``) follows: the
others ask for the lease twice a second, read the holder's confirmation from the database every second, and probe record
versions themselves before issuing (a read); a failed probe there answers "try again" while the holder's
breaker decides the mode, which every node follows (``cluster.nodes``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import SYSTEM
from issuance_server.cluster import store as cluster_store
from issuance_server.cluster.lease import lease_for
from issuance_server.cluster.store import LeaseLost
from issuance_server.core import CORE, ServerCore
from issuance_server.metrics import timed
from issuance_server.modes.state import switch_mode
from issuance_server.process_memory import cycle_collection_paused
from issuance_server.storage.engine import DatabaseUnavailable
from recovery.breaker import CircuitBreaker
from recovery.feed_apply import ReplicaMoved, apply_batch, read_checkpoint
from recovery.feed_page import Change, FeedBroken, FeedPage, RegistryUnavailable
from recovery.registry_client import RegistryClient
from recovery.snapshot_sync import SnapshotSync
from wire.clock import utc_now, utc_now_iso
from wire.kiosk_api import Mode

log = logging.getLogger("konbini.link")
CATCH_UP_DEADLINE_S = 3.0
LEASE_TRY_S = 0.5  # a node without the lease asks for it (and reads the holder's news) this often
LEASE_CHECK_S = 1.0  # the holder checks its lease (and writes its news), the others read the news, this often
DATABASE_RETRY_S = 1.0  # the pause before the link tries again while its database is unreachable


def _parse_at(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _cancel_fetch(task: asyncio.Future[FeedPage]) -> None:
    """A page fetched for nothing: its fetch (and check) is cancelled, or its outcome dropped."""
    if task.done() and not task.cancelled():
        task.exception()  # a failure of a page nobody will use is not news
    task.cancel()


def complete_batches(page: FeedPage) -> list[Change]:
    """The page's changes without a trailing upstream batch that the page cut in two.

    Changes committed upstream in one transaction share their time stamp; when more changes follow the
    page, the last batch may continue on the next page, so it waits for it (unless it fills the whole
    page). A replica never holds half of an upstream change, e.g. half of a household's move."""
    changes = page.changes
    if not changes or changes[-1].seq >= page.last_seq:
        return changes
    last_at = changes[-1].at
    cut = len(changes)
    while cut > 0 and changes[cut - 1].at == last_at:
        cut -= 1
    return changes[:cut] if cut else changes


class RegistryLink:
    def __init__(self, core: ServerCore) -> None:
        s = core.settings
        self.core = core
        self.client = RegistryClient(s.registry_url, s.registry_timeout_s, core.registry_ssl)
        self.breaker = self._new_breaker()
        self.lease = lease_for(core.db, s.database_url, core.node.name, core.node.incarnation)
        self.sync = SnapshotSync(core, self.lease.fence)
        self.lease_checked = 0.0
        self.lease_taken_at: str | None = None  # when this node last took the lease
        self._noted: tuple[str | None, int | None] = (None, None)  # the news last written for the others
        self._heard_at = 0.0  # when this node (without the lease) last read the holder's news
        self.registry_seq: int | None = None
        self.replica_seq: int | None = None
        self.confirmed_at: str | None = None  # the replica matched the registry at this time
        self.last_resync: dict[str, str] | None = None  # when and why the link last loaded a whole snapshot
        self.last_error: str | None = None
        self.lags: collections.deque[float] = collections.deque(maxlen=20_000)
        self.applied = 0
        self.failovers = 0
        self.last_failover_s: float | None = None
        self.last_catch_up_s: float | None = None
        self._first_failure_at: float | None = None
        self._poll_lock = asyncio.Lock()
        self.checking = False  # a consistency check holds the replica still
        self._batch = s.feed_batch
        # The next page, fetched and checked while this one is applied: (after, its fetch).
        self._prefetch: tuple[int, asyncio.Future[FeedPage]] | None = None
        self._task: asyncio.Task[None] | None = None

    def _new_breaker(self) -> CircuitBreaker:
        s = self.core.settings
        return CircuitBreaker(s.breaker_failures, s.breaker_cooldown_s, stable_s=s.breaker_stable_s)

    # -- the background task -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="registry-link")

    async def stop(self) -> None:
        self._drop_prefetch()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.lease.release()
        await self.client.close()

    @property
    def leading(self) -> bool:
        """This node holds the registry lease: it follows the registry for all nodes."""
        return self.lease.held

    @property
    def paused(self) -> bool:
        """Changes are not applied in recovery mode set by hand, nor while a full sync runs."""
        state = self.core.mode_state
        return (
            (state.manual and state.mode == Mode.RECOVERY)
            or self.sync.running
            or self.checking
            or not self.core.replica.ready
        )

    async def _run(self) -> None:
        poll = self.core.settings.feed_poll_s
        while True:
            try:
                if not await self._hold_lease():
                    await self._hear_holder_when_due()
                    await asyncio.sleep(LEASE_TRY_S)
                elif not self.core.settings.registry_link:
                    await asyncio.sleep(LEASE_TRY_S)  # the lease held for syncs by hand; no feed followed
                elif self.paused:
                    await asyncio.sleep(poll)
                elif self.breaker.state == "closed":
                    more = await self._poll_guarded()
                    if not more:
                        await asyncio.sleep(poll)
                elif self.breaker.probe_due():
                    await self._probe_and_catch_up()
                else:
                    await asyncio.sleep(min(poll, 0.1))
            except asyncio.CancelledError:
                raise
            except LeaseLost as exc:
                self._lost_lease(str(exc))
            except DatabaseUnavailable as exc:  # the server's own database, not the registry: wait for it
                log.warning("registry link waits for the database: %s", exc)
                await asyncio.sleep(max(poll, DATABASE_RETRY_S))
            except Exception:  # keep following whatever happens; say what
                log.exception("registry link error")
                await asyncio.sleep(poll)

    async def _hold_lease(self) -> bool:
        """Whether this node holds the lease: checked every ``LEASE_CHECK_S`` while held (the news for the
        other nodes written then), asked for while not."""
        lease, now = self.lease, time.monotonic()
        if lease.held:
            if now - self.lease_checked < LEASE_CHECK_S:
                return True
            self.lease_checked = now
            if not await lease.still_held():
                self._lost_lease("its connection to the database failed")
                return False
            await self._tell_others()
            return True
        if not await lease.try_take():
            return False
        self.lease_checked, self.lease_taken_at = now, utc_now_iso()
        self.breaker = self._new_breaker()  # the registry as this node finds it, not as it last found it
        self._noted = (None, None)
        await self.core.audit.append(SYSTEM, "registry_lease", "taken", node=self.core.node.name)
        return True

    def _lost_lease(self, why: str) -> None:
        log.warning("this node no longer holds the registry lease: %s", why)
        self._drop_prefetch()
        self.lease.token = None

    async def _tell_others(self) -> None:
        """The holder's confirmation and the registry's seq, for the other nodes' certificates and status."""
        news = (self.confirmed_at, self.registry_seq)
        if news != self._noted and self.lease.token is not None:
            await self.core.db.write(
                partial(
                    cluster_store.note_link,
                    token=self.lease.token,
                    confirmed_at=news[0],
                    registry_seq=news[1],
                )
            )
            self._noted = news

    async def _hear_holder_when_due(self) -> None:
        now = time.monotonic()
        if now - self._heard_at >= LEASE_CHECK_S:
            self._heard_at = now
            await self._hear_holder()

    async def _hear_holder(self) -> None:
        """Not the holder: the holder's news, and how far the shared replica is."""
        row = await self.core.db.read(cluster_store.lease)
        if row is not None:
            self.confirmed_at, self.registry_seq = row["confirmed_at"], row["registry_seq"]
        if self.core.replica.ready:
            self.replica_seq = (await read_checkpoint(self.core.db)).seq

    async def _poll_guarded(self) -> bool:
        try:
            more = await self.poll_once()
        except RegistryUnavailable as exc:
            await self._failure(str(exc))
            return False
        except FeedBroken as exc:
            await self._resync(str(exc))
            return False
        self._first_failure_at = None
        self.breaker.record_success()
        state = self.core.mode_state
        if not more and state.mode == Mode.RECOVERY and not state.manual:
            await self._set_mode(Mode.NORMAL, f"caught up with the registry at seq {self.replica_seq}")
        return more

    async def poll_once(self) -> bool:
        """Read one feed page after the replica's checkpoint and apply it; True if more are waiting.

        While catching up, the next page is fetched, checked (large pages in the checker process) and
        decoded while this one is applied (HTTP and JSON on the event loop and a thread overlap SQLite in
        its own thread)."""
        async with self._poll_lock:
            checkpoint = await read_checkpoint(self.core.db)
            page = await self._page_after(checkpoint.seq, checkpoint.epoch)
            seq = checkpoint.seq
            if not page.changes and page.last_seq > seq:
                raise FeedBroken(f"changes {seq + 1}..{page.last_seq} are missing from the feed (gap)")
            changes = complete_batches(page)
            if changes:
                page = FeedPage(page.epoch, changes, page.last_seq)
            if page.changes:
                last = page.changes[-1].seq
                if last < page.last_seq:
                    self._prefetch = (
                        last,
                        asyncio.ensure_future(self.client.feed(last, self._batch, checkpoint.epoch)),
                    )
                try:
                    with timed(self.core.metrics.feed_apply.observe), cycle_collection_paused():
                        seq = await apply_batch(self.core.db, page.changes, checkpoint.seq, self.lease.fence)
                except ReplicaMoved:
                    self._drop_prefetch()
                    return True
                self._record_lag(page.changes)
            self.registry_seq, self.replica_seq = page.last_seq, seq
            if seq >= page.last_seq:
                self.confirmed_at = utc_now_iso()
            return page.last_seq > seq

    async def _page_after(self, seq: int, epoch: str | None) -> FeedPage:
        if self._prefetch is not None:
            after, task = self._prefetch
            self._prefetch = None
            if after == seq:
                return await task
            _cancel_fetch(task)
        return await self.client.feed(seq, self._batch, epoch)

    def _drop_prefetch(self) -> None:
        if self._prefetch is not None:
            _cancel_fetch(self._prefetch[1])
            self._prefetch = None

    def _record_lag(self, changes: list[Change]) -> None:
        now, text, at = time.time(), None, None
        for change in changes:  # one batch upstream shares one time stamp: parse each distinct one once
            if change.at != text:
                text, at = change.at, _parse_at(change.at)
            if at is not None:
                self.lags.append(now - at)
        self.applied += len(changes)

    async def catch_up(self, target_seq: int | None = None, deadline_s: float = CATCH_UP_DEADLINE_S) -> bool:
        """Pull the feed until the replica reaches ``target_seq`` (default: the registry's latest)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            more = await self.poll_once()
            if not more and (target_seq is None or (self.replica_seq or 0) >= target_seq):
                return True
        return False

    async def _failure(self, reason: str, trip: bool = False) -> None:
        self.last_error = reason
        if self._first_failure_at is None:
            self._first_failure_at = time.monotonic()
        if self.breaker.record_failure(reason, trip=trip):
            self.failovers += 1
            self.last_failover_s = time.monotonic() - self._first_failure_at
            await self._set_mode(Mode.RECOVERY, f"registry unreachable: {reason}")

    async def _probe_and_catch_up(self) -> None:
        self.breaker.start_probe()
        started = time.monotonic()
        try:
            await self.client.health()
            caught_up = await self.catch_up(deadline_s=30.0)
        except RegistryUnavailable as exc:
            self.breaker.record_failure(str(exc))
            self.last_error = str(exc)
            return
        except FeedBroken as exc:
            self.breaker.record_success()
            await self._resync(str(exc))
            return
        if not caught_up:
            self.breaker.record_failure("catch-up did not finish")
            return
        self.breaker.record_success()
        self._first_failure_at = None
        self.last_catch_up_s = time.monotonic() - started
        await self._set_mode(
            Mode.NORMAL, f"registry back; caught up to seq {self.replica_seq} in {self.last_catch_up_s:.2f} s"
        )

    async def _resync(self, reason: str) -> None:
        log.warning("full resync: %s", reason)
        self.last_resync = {"at": utc_now_iso(), "reason": reason}
        await self.core.audit.append(SYSTEM, "feed_broken", "resync", reason=reason[:200])
        self.sync.start()  # the same sync ops start by hand (if one runs already, follow it): never two at once
        progress = await self.sync.wait()
        if progress.state != "done":
            await self._failure(f"resync failed: {progress.error}")

    async def _set_mode(self, mode: str, reason: str) -> None:
        state = self.core.mode_state
        if state.manual:
            return  # a mode set by hand stays until ops releases it
        await switch_mode(self.core.db, self.core.secrets.audit_chain_key, state, mode, False, reason, SYSTEM)

    # -- Freshness, for the core ---------------------------------------------------------------------

    async def confirm(self, versions: dict[str, int | None], whole: bool = False) -> bool:
        if self.core.mode != Mode.NORMAL or not versions:
            return True
        if not self.leading:
            return await self._confirm_as_follower(versions, whole)
        if self.breaker.state != "closed":
            return True
        keys = [(k.split("/", 1)[0], k.split("/", 1)[1]) for k in versions]
        try:
            with timed(self.core.metrics.version_probe.observe):
                registry_seq, current = await self.client.versions(keys)
        except RegistryUnavailable as exc:
            # Cannot confirm: fail over now rather than make the resident wait or issue unconfirmed data
            # in normal mode. The replica was current at the last poll, a fraction of a second ago.
            await self._failure(f"version probe: {exc}", trip=True)
            return True
        same = all(current.get(k) == v for k, v in versions.items())
        if same and (not whole or (self.replica_seq or 0) >= registry_seq):
            return True
        if self.paused:  # a full sync or a consistency check holds the replica: it cannot catch up now
            raise ApiError(
                503, "replica_behind", "the records are being updated; please try again in a moment"
            )
        try:
            caught_up = await self.catch_up(registry_seq)
        except (RegistryUnavailable, FeedBroken) as exc:
            raise ApiError(
                503, "registry_unreachable", "the records cannot be confirmed now; please try again"
            ) from exc
        if not caught_up:
            raise ApiError(
                503, "replica_behind", "the records are being updated; please try again in a moment"
            )
        return False

    async def _confirm_as_follower(self, versions: dict[str, int | None], whole: bool) -> bool:
        """As :meth:`confirm`, on a node without the lease: the holder applies the feed, this node waits for
        the shared replica to reach the registry's seq; a registry that does not answer is the holder's to
        judge (its breaker switches every node to recovery): meanwhile the step is to be tried again."""
        keys = [(k.split("/", 1)[0], k.split("/", 1)[1]) for k in versions]
        try:
            with timed(self.core.metrics.version_probe.observe):
                registry_seq, current = await self.client.versions(keys)
        except RegistryUnavailable as exc:
            raise ApiError(
                503, "registry_unreachable", "the records cannot be confirmed now; please try again"
            ) from exc
        same = all(current.get(k) == v for k, v in versions.items())
        end = time.monotonic() + CATCH_UP_DEADLINE_S
        while True:
            seq = (await read_checkpoint(self.core.db)).seq
            if seq >= registry_seq or (same and not whole):
                return same
            if time.monotonic() >= end:
                raise ApiError(
                    503, "replica_behind", "the records are being updated; please try again in a moment"
                )
            await asyncio.sleep(0.05)

    def data_as_of(self) -> str:
        return self.confirmed_at or ""

    def status(self) -> dict[str, Any]:
        lags = sorted(self.lags)

        def pct(p: float) -> float | None:
            return round(lags[min(len(lags) - 1, int(p * len(lags)))], 3) if lags else None

        seq_lag = (
            None
            if self.registry_seq is None or self.replica_seq is None
            else self.registry_seq - self.replica_seq
        )
        return {
            "node": self.core.node.name,
            "lease_held": self.leading,
            "lease_taken_at": self.lease_taken_at,
            "breaker": self.breaker.as_json(),
            "registry_seq": self.registry_seq,
            "replica_seq": self.replica_seq,
            "seq_lag": seq_lag,
            "lag_s_p50": pct(0.5),
            "lag_s_p99": pct(0.99),
            "changes_applied": self.applied,
            "confirmed_at": self.confirmed_at,
            "replica_age_s": self.replica_age_s(),
            "last_error": self.last_error,
            "failovers": self.failovers,
            "last_failover_s": self.last_failover_s,
            "last_catch_up_s": self.last_catch_up_s,
            "paused": self.paused,
            "last_resync": self.last_resync,
        }

    def replica_age_s(self) -> float | None:
        if not self.confirmed_at:
            return None
        return round(
            (utc_now() - datetime.fromisoformat(self.confirmed_at.replace("Z", "+00:00"))).total_seconds(), 3
        )


LINK: web.AppKey[RegistryLink] = web.AppKey("registry_link", RegistryLink)


async def link_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx for the composition root: runs after the core is built, stops before it closes."""
    core = app[CORE]
    link = RegistryLink(core)
    app[LINK] = link
    core.holds_lease = lambda: link.leading
    if core.settings.registry_link:
        core.freshness = link
        core.link_status = link.status
    link.start()
    yield
    await link.stop()
