"""``konbini-demo --nodes N``: PostgreSQL (a throwaway cluster), registry_sim, N server nodes and HAProxy in
front; kiosks of several identities run sessions through the balancer while one node is SIGKILLed and then
the node holding the registry lease; both come back; every PDF is read back (its signed QR must name the
serial issued and the session's resident), the books are checked for duplicates and double charges, and the
audit chain is verified.

TLS ends at HAProxy, which verifies the kiosks' client certificates and forwards them to the nodes (plain
HTTP on loopback, vouched for by the cluster's proxy secret), as ``konbini-ops haproxy-config`` writes it: one
place checks certificates and sees every request, and a node is a process that can die without taking a TLS
session with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from issuance_server.secrets_store import write_private
from konbini_demo.postgres_cluster import PostgresCluster
from konbini_demo.processes import Service, ServiceError, free_port, run
from konbini_demo.recovery_demo import wait_until as wait_for
from konbini_demo.soft_kiosk import SoftKiosk, eligible_adults
from konbini_demo.stack import Stack
from recovery.haproxy import Node, haproxy_config
from wire.cert_qr import extract_record_text, verify_text
from wire.cert_record import load_public_key
from wire.http_json import HttpError, JsonClient
from wire.kiosk_api import auth_message
from wire.kiosk_client import KioskClient, KioskCredentials
from wire.print_guard import GuardRefused, check_sheets

KIOSKS = 4  # kiosk identities, each running sessions one after another
STEP_RETRY_S = 20.0  # a kiosk retries a step whose answer was lost for this long
ISSUE_WAIT_S = 20.0  # and an issue still claimed by a node (that may have died) for this long
PHASE_S = 6.0  # load before the first kill, between the kills, and after the restarts


def step(text: str) -> None:
    print(f"scale demo: {text}", file=sys.stderr, flush=True)


@dataclass
class Tally:
    sessions: int = 0
    failed: list[str] = field(default_factory=list)
    printed: list[tuple[str, str, bytes, bytes]] = field(
        default_factory=list
    )  # (atena_no, serial, pdf, card)
    retries: int = 0
    step_s: list[float] = field(default_factory=list)  # how long each kiosk step took, retries included

    def step_wait(self) -> tuple[float, float]:
        """(p99, max) of a kiosk step's wait, seconds."""
        waits = sorted(self.step_s) or [0.0]
        return waits[min(len(waits) - 1, int(0.99 * len(waits)))], waits[-1]


async def timed(tally: Tally, call: Any) -> Any:
    started = time.monotonic()
    try:
        return await call
    finally:
        tally.step_s.append(time.monotonic() - started)


class ScaleNodes:
    """The N nodes of one cluster on this machine: each its own data folder (the cluster's keys copied in) and
    port, one PostgreSQL database."""

    def __init__(self, stack: Stack, n: int) -> None:
        self.stack = stack
        self.ports = [free_port() for _ in range(n)]
        self.dirs = [stack.root / f"node-{i + 1}" for i in range(n)]

    def name(self, i: int) -> str:
        return f"node-{i + 1}"

    def place_keys(self, keys: Path) -> None:
        for folder in self.dirs:
            shutil.copytree(keys, folder, dirs_exist_ok=True)

    def start(self, i: int) -> None:
        env = {
            **self.stack.server_env(),
            "KONBINI_DATA_DIR": str(self.dirs[i]),
            "KONBINI_PORT": str(self.ports[i]),
            "KONBINI_NODE_NAME": self.name(i),
        }
        svc = Service(self.name(i), ["issuance_server"], self.stack.logs, env=env)
        self.stack.services[self.name(i)] = svc
        svc.wait_log("konbini-server listening on")

    def kill(self, i: int) -> None:
        self.stack.kill(self.name(i))

    def ops(self, i: int) -> JsonClient:
        token = (self.dirs[i] / "secrets" / "ops-token").read_text().strip()
        return JsonClient(f"http://127.0.0.1:{self.ports[i]}", {"Authorization": f"Bearer {token}"}, 5.0)

    def status(self, i: int) -> dict[str, Any]:
        return dict(self.ops(i).call("GET", "/ops/api/status"))

    def holder(self, alive: list[int]) -> int | None:
        """The node holding the registry lease, as a live node says."""
        for i in alive:
            try:
                lease = self.status(i)["cluster"]["lease"]
            except (HttpError, KeyError, TypeError):
                continue
            for j in alive:
                if lease and lease["holder"] == self.name(j) and self.status(j)["link"]["lease_held"]:
                    return j
        return None


def start_balancer(stack: Stack, nodes: ScaleNodes) -> str:
    folder = stack.root / "haproxy"
    tls = nodes.dirs[0] / "tls"
    pem, cfg = folder / "server.pem", folder / "haproxy.cfg"
    write_private(pem, (tls / "server.crt").read_bytes() + (tls / "server.key").read_bytes())
    port = free_port()
    secret = (nodes.dirs[0] / "secrets" / "proxy-secret").read_text().strip()
    text = haproxy_config(
        f"127.0.0.1:{port}", pem, tls / "kiosk-ca.crt", secret, [Node("127.0.0.1", p) for p in nodes.ports]
    )
    write_private(cfg, text.encode())
    stack.services["haproxy"] = Service("haproxy", ["haproxy", "-f", str(cfg), "-db"], stack.logs, raw=True)
    url = f"https://127.0.0.1:{port}"
    stack.services["haproxy"].wait_http(url + "/healthz", 15, stack.server_client().ssl_context)
    return url


async def one_session(kiosk: SoftKiosk, creds: KioskCredentials, url: str, tally: Tally) -> None:
    async with KioskClient(creds, server=url, retry_s=STEP_RETRY_S) as api:
        s = await timed(tally, api.open_session())
        sid = s["session_id"]
        sig = kiosk.key.sign(auth_message(api.kiosk_id, sid, s["nonce"]), padding.PKCS1v15(), hashes.SHA256())
        await timed(tally, api.authenticate(sid, s["nonce"], kiosk.cert, sig, kiosk.pin))
        await timed(tally, api.menu(sid))
        quote = await timed(tally, api.quote(sid, "juminhyo"))
        issued = await timed(tally, _issue(api, sid, quote["quote_id"], tally))
        serial = issued["certificates"][0]["serial"]
        pdf = await timed(tally, api.fetch_pdf(sid, serial))
        await timed(tally, api.report_print(sid, serial, True))
        await timed(tally, api.end_session(sid))
        tally.retries += api.retries
        tally.printed.append((kiosk.atena_no, serial, pdf, kiosk.cert))


async def _issue(api: KioskClient, sid: str, quote_id: str, tally: Tally) -> dict[str, Any]:
    """The paid quote issued; again while a node's claim on it stands (that node may have died) or the
    registry is being judged, as the kiosk app does."""
    reference = f"scale-{secrets.token_hex(6)}"
    end = time.monotonic() + ISSUE_WAIT_S
    while True:
        try:
            return await api.issue(sid, quote_id, reference)
        except HttpError as exc:
            if exc.code not in ("issue_in_progress", "registry_unreachable", "replica_behind"):
                raise
            if time.monotonic() > end:
                raise
            tally.retries += 1
            await asyncio.sleep(0.5)


async def kiosk_loop(
    kiosks: list[SoftKiosk], creds: KioskCredentials, url: str, tally: Tally, stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        kiosk = kiosks[n % len(kiosks)]
        n += 1
        tally.sessions += 1
        try:
            await one_session(kiosk, creds, url, tally)
        except HttpError as exc:
            tally.failed.append(f"{creds.kiosk_id}: {exc.code} ({exc.status})")


def read_back(stack: Stack, nodes: ScaleNodes, tally: Tally) -> tuple[int, int]:
    """(duplicate serials, certificates of someone else): every PDF as a kiosk's print guard checks it (each
    sheet signed by the city, of the serial issued, tagged for the session's card, sheets 1..n), and its
    first record's name and birth date against the session's resident."""
    key = load_public_key(nodes.dirs[0] / "keys" / "issuing-ed25519.pub")
    folder = stack.root / "printed"
    folder.mkdir(exist_ok=True)
    serials = [serial for _, serial, _, _ in tally.printed]
    cross = 0
    for atena_no, serial, pdf, card in tally.printed:
        path = folder / f"{serial}.pdf"
        path.write_bytes(pdf)
        try:
            check_sheets(pdf, serial, hashlib.sha256(card).digest(), key)
        except GuardRefused:
            cross += 1
            continue
        record = verify_text(extract_record_text(path), key).record
        identity = stack.resident_identity(atena_no)
        if (
            record is None
            or record.birth_date.isoformat() != identity.birth_date
            or "".join(record.name.split()) != "".join(identity.name.split())
        ):
            cross += 1
    return len(serials) - len(set(serials)), cross


def double_charges(url: str) -> int:
    """Payments that paid for more certificates than their quote's copies, or that were taken twice."""
    import psycopg

    with psycopg.connect(url) as pg:
        over = pg.execute(
            "SELECT count(*) FROM kiosk_payments p WHERE (SELECT count(*) FROM issuances i"
            " WHERE i.payment_id = p.quote_id) > p.copies"
        ).fetchone()
        twice = pg.execute(
            "SELECT count(*) FROM (SELECT payment_reference FROM kiosk_payments WHERE payment_reference IS NOT"
            " NULL GROUP BY payment_reference HAVING count(*) > 1) t"
        ).fetchone()
    return int(over[0] if over else 0) + int(twice[0] if twice else 0)


async def load_while(actions: Any, kiosks: list[SoftKiosk], creds: list[KioskCredentials], url: str) -> Tally:
    """Kiosk sessions from every identity in ``creds`` while ``actions()`` runs (in a thread)."""
    tally, stop = Tally(), asyncio.Event()
    # A card is in one reader at a time: each kiosk has residents of its own.
    loops = [
        asyncio.create_task(kiosk_loop(kiosks[k :: len(creds)], c, url, tally, stop))
        for k, c in enumerate(creds)
    ]
    try:
        await asyncio.to_thread(actions)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    return tally


@dataclass
class Books:
    """What the books and the printed pages say after a load."""

    duplicates: int
    cross: int
    double_charged: int
    audit_ok: bool

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.cross or self.double_charged) and self.audit_ok


class ScaleCluster:
    """PostgreSQL (the given database), registry_sim, N nodes, HAProxy, enrolled kiosks and registered
    residents: the stack of the scale demo and of its end-to-end test."""

    def __init__(
        self, root: Path, database_url: str, n_nodes: int, residents: int, settings: dict[str, str]
    ) -> None:
        self.url = database_url
        self.stack = Stack(
            root, residents,
            server_settings={"KONBINI_DATABASE_URL": database_url, "KONBINI_PLAIN_HTTP": "true", **settings},
        )  # fmt: skip
        self.nodes = ScaleNodes(self.stack, n_nodes)
        self.alive = list(range(n_nodes))
        self.balancer = ""
        self.creds: list[KioskCredentials] = []
        self.people: list[SoftKiosk] = []

    def start(self) -> None:
        stack, nodes = self.stack, self.nodes
        step(f"registry_sim ({stack.residents} residents), the card CA, the schema, the cluster's keys")
        stack.start_registry()
        run(["devices.card.cli", "init-ca", "--dir", str(stack.ca_dir)])
        stack.ops("migrate")
        keys = stack.root / "cluster-keys"
        stack.ops("cluster-init", "--out", str(keys))
        nodes.place_keys(keys)
        stack.server_dir, stack.server_port = nodes.dirs[0], nodes.ports[0]  # the tools talk to node 1
        step(f"{len(nodes.dirs)} server nodes on one database")
        for i in self.alive:
            nodes.start(i)
        self.use_holder()
        stack.ops("sync", "--full")  # a full sync is the lease holder's
        wait_for(
            "every node on the replica",
            lambda: all(nodes.status(i)["replica"]["meta"] for i in self.alive),
            15,
        )
        stack.enrol()
        creds = [KioskCredentials.load(stack.kiosk_credentials)]
        for k in range(2, KIOSKS + 1):
            path = stack.root / "kiosks" / f"kiosk-{k:03d}.json"
            stack.ops("kiosk-add", f"kiosk-{k:03d}", "--location", f"store {k}", "--out", str(path))
            creds.append(KioskCredentials.load(path))
        self.balancer = start_balancer(stack, nodes)
        self.creds = [dataclasses.replace(c, server=self.balancer) for c in creds]
        self.people = [SoftKiosk(stack, a, name="scale") for a in eligible_adults(stack, 2 * KIOSKS)]
        for person in self.people:
            person.register()
        step(
            f"HAProxy on {self.balancer}; {KIOSKS} kiosks of {len(self.people)} residents issuing through it"
        )

    def use_holder(self) -> int:
        """Wait for a lease holder among the live nodes and point the tools at it."""
        wait_for("a lease holder", lambda: self.nodes.holder(self.alive) is not None, 15)
        holder = self.nodes.holder(self.alive)
        assert holder is not None  # noqa: S101  waited for just above
        self.stack.server_dir, self.stack.server_port = self.nodes.dirs[holder], self.nodes.ports[holder]
        return holder

    def kill(self, i: int) -> None:
        step(f"SIGKILL {self.nodes.name(i)}")
        self.nodes.kill(i)
        self.alive.remove(i)

    def restart(self, i: int) -> None:
        self.nodes.start(i)
        self.alive.append(i)

    def kill_holder(self) -> float:
        """SIGKILL the lease holder; seconds until another node holds the lease."""
        holder = self.nodes.holder(self.alive)
        if holder is None:
            raise ServiceError("no node holds the registry lease")
        killed_at = time.monotonic()
        self.kill(holder)
        wait_for("the lease to move", lambda: self.nodes.holder(self.alive) is not None, 15)
        moved = time.monotonic() - killed_at
        step(f"the lease moved to {self.nodes.name(self.nodes.holder(self.alive) or 0)} in {moved:.2f} s")
        return moved

    def kill_a_node_then_the_holder(self, phase_s: float) -> float:
        """Under load: SIGKILL a node that does not hold the lease, then the lease holder, ``phase_s`` apart;
        restart both and let ``phase_s`` pass. Seconds until the lease moved."""
        time.sleep(phase_s)
        first = next(i for i in self.alive if i != self.nodes.holder(self.alive))
        self.kill(first)
        time.sleep(phase_s)
        holder = self.nodes.holder(self.alive)
        moved = self.kill_holder()
        for i in (first, holder):
            if i is not None:
                self.restart(i)
        step(f"{self.nodes.name(first)} and the former holder restarted")
        time.sleep(phase_s)
        return moved

    def rolling_restart(self, pause_s: float) -> None:
        """Each node in turn: drained (HAProxy stops sending it work), stopped, started again, put back."""
        for i in list(self.alive):
            ops = self.nodes.ops(i)
            ops.call("POST", "/ops/api/drain", {"draining": True})
            time.sleep(2.5)  # HAProxy's checks (inter 1 s, fall 2) take it out; open requests finish
            self.stack.services.pop(self.nodes.name(i)).stop()
            self.alive.remove(i)
            self.restart(i)
            step(f"{self.nodes.name(i)} restarted (drained first)")
            time.sleep(pause_s)

    def load(self, actions: Any) -> Tally:
        return asyncio.run(load_while(actions, self.people, self.creds, self.balancer))

    def books(self, tally: Tally) -> Books:
        self.use_holder()
        duplicates, cross = read_back(self.stack, self.nodes, tally)
        audit = self.stack.ops("audit-verify", check=False)
        if audit.returncode != 0:
            step(f"the audit trail did not verify: {audit.stdout.strip()} {audit.stderr.strip()}")
        return Books(duplicates, cross, double_charges(self.url), audit.returncode == 0)

    def stop(self) -> None:
        self.stack.stop()


def run_scale_demo(root: Path, n_nodes: int, residents: int) -> str:
    step(f"PostgreSQL (a throwaway cluster in {root / 'postgres'})")
    root.mkdir(parents=True, exist_ok=True)
    pg = PostgresCluster()
    pg.start(root / "postgres")
    try:
        pg.create_database("konbini")
        cluster = ScaleCluster(root, pg.url("konbini"), n_nodes, residents, {})
        try:
            cluster.start()
            return _run(cluster)
        finally:
            cluster.stop()
    finally:
        pg.stop()


def _run(cluster: ScaleCluster) -> str:
    moved: dict[str, float] = {}

    def kills() -> None:
        moved["s"] = cluster.kill_a_node_then_the_holder(PHASE_S)

    tally = cluster.load(kills)
    step(
        f"{tally.sessions} sessions, {len(tally.printed)} printed, {tally.retries} steps tried again;"
        " a kiosk step's wait p99 {:.2f} s, max {:.2f} s".format(*tally.step_wait())
    )
    books = cluster.books(tally)
    for failure in tally.failed[:5]:
        step(f"failed session: {failure}")
    ok = not tally.failed and books.clean and tally.printed
    return (
        f"{'SCALE DEMO OK' if ok else 'SCALE DEMO FAILED'} nodes={len(cluster.nodes.dirs)} engine=postgresql"
        f" sessions={len(tally.printed)} failed={len(tally.failed)} duplicates={books.duplicates}"
        f" cross={books.cross} double_charged={books.double_charged} lease_moved={moved.get('s', float('nan')):.2f}s"
    )
