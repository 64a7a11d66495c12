"""Throwaway PostgreSQL clusters for the tests, the benches and the demos: Debian's binaries (``initdb``,
``pg_ctl``), never a system cluster.

:class:`PostgresCluster` makes a cluster in a folder of its own (``initdb``) and runs it on a free loopback
port, with its unix socket in that folder and the durability settings of a test (``fsync=off``, ...). As root
(this machine, CI) the binaries run as the ``postgres`` OS user (``runuser``; ``initdb`` refuses root) and the
folder is that user's, mode 0700; otherwise they run as the current user.

A test run shares one cluster across its pytest-xdist workers (:func:`acquire_shared_cluster`, the
``postgres_cluster`` fixture of ``tests/conftest.py``): the first worker that asks starts it in
``<base>/run-<run id>`` (:func:`default_base`: ``/dev/shm/konbini-postgres``, else in ``/tmp``) under a lock
file, the others attach to it from the ``cluster.json`` it leaves there, and the last worker to let go stops it
and removes the folder. Each worker has a database of its own in it (:func:`worker_database_name`,
:func:`fresh_database`). Clusters that a killed run left behind (their run's pytest process is gone, or they
are older than :data:`STALE_AFTER_S`) are stopped and removed by the next run that starts one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

PG_LIB = Path("/usr/lib/postgresql")  # Debian's binaries: /usr/lib/postgresql/<major>/bin
SHM = Path("/dev/shm")  # noqa: S108  a folder of our own is made in it, mode 0700, owned by the OS user
SHM_MIN_FREE = 2 << 30  # in memory only with room to spare (a container's /dev/shm may be 64 MB)
OS_USER = "postgres"  # the OS user that runs the binaries when the tests run as root
STALE_AFTER_S = 6 * 3600.0  # a cluster older than this belongs to no test run still going (a run is ~10 min)
START_TRIES = 5  # ports taken between choosing and binding: a new one each time
WAIT_S = 60.0  # pg_ctl's wait for the server to be ready or gone
SOCKET_PATH_MAX = 100  # a unix socket's path is at most 107 bytes (sun_path); the name adds .s.PGSQL.<port>

# The settings of a throwaway cluster: nothing survives a crash, nothing needs to.
# Left at PostgreSQL's own defaults in a durable cluster (a bench's): crash safety and a server's sizes.
TEST_ONLY = (
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "shared_buffers",
    "max_wal_size",
    "min_wal_size",
)
SETTINGS: dict[str, str | int] = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": 300,  # three workers' pools, the servers they start and a load test's kiosks
    "shared_buffers": "32MB",
    "max_wal_size": "256MB",  # CREATE DATABASE ... TEMPLATE writes the template's ~8 MB to the WAL: keep it short
    "min_wal_size": "32MB",
    "dynamic_shared_memory_type": "mmap",  # in data/pg_dynshmem, swept with the folder (a killed server's posix
    # segments would stay in /dev/shm until the machine restarts)
    "log_line_prefix": "%m [%p] %q%u@%d ",
}
# Superuser without a password (socket and loopback); every other role with its password over TCP, so a test can
# see a wrong password refused.
PG_HBA = f"""\
# konbini's throwaway cluster (konbini_demo/postgres_cluster.py)
local all all trust
local replication all trust
host all {OS_USER} 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


Statement = str | sql.SQL | sql.Composed


def default_base() -> Path:
    """Where the clusters' folders go: in memory (``/dev/shm``) when it has room, as on these machines, where a
    ``CREATE DATABASE ... TEMPLATE`` takes ~15 ms against ~150-200 ms on the disk (ext4, even with fsync off)
    and initdb ~0.6 s against ~1.1 s; else ``/tmp``. Fixed paths, whatever TMPDIR: every run on the machine
    shares the lock and sweeps the same folder."""
    with contextlib.suppress(OSError):
        shm = os.statvfs(SHM)
        if shm.f_bavail * shm.f_frsize >= SHM_MIN_FREE and os.access(SHM, os.W_OK | os.X_OK):
            return SHM / "konbini-postgres"
    return Path("/tmp/konbini-postgres")  # noqa: S108  each cluster's folder in it is 0700, the OS user's


BASE_DIR = default_base()


class ClusterError(Exception):
    """A cluster could not be made, started, used or stopped; the message has the end of its log."""


def find_bindir() -> Path:
    """The highest installed major's bin folder (``pg_config --bindir`` is in libpq-dev, not always there)."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for initdb in PG_LIB.glob("*/bin/initdb"):
        version = initdb.parent.parent.name
        if re.fullmatch(r"\d+(\.\d+)*", version):
            found.append((tuple(int(part) for part in version.split(".")), initdb.parent))
    if not found:
        raise ClusterError(f"no PostgreSQL binaries ({PG_LIB}/*/bin/initdb); run `make install`")
    return max(found)[1]


def _as_root() -> bool:
    return os.geteuid() == 0


def _os_user_ids() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(OS_USER)
    except KeyError as exc:
        raise ClusterError(
            f"no OS user {OS_USER!r} (Debian's postgresql makes it); run `make install`"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if no such process lives (a zombie is dead):
    a recorded pid with its start time names one process, never another that got the number later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command's name, which may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _alive(pid: int, start: int | None) -> bool:
    now = process_start(pid)
    return now is not None and (start is None or now == start)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _setting(name: str, value: str | int) -> str:
    quoted = value.replace("'", "''") if isinstance(value, str) else None
    return f"{name} = {value}\n" if quoted is None else f"{name} = '{quoted}'\n"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


class PostgresCluster:
    """One PostgreSQL cluster in a folder: ``start(folder)``, use, ``stop()`` (which removes the folder).

    The folder holds ``data/`` (the cluster), ``socket/`` (its unix socket), ``postgres.log`` and
    ``cluster.json`` (what :meth:`attach` reads: another process's handle on the same running cluster)."""

    def __init__(self, bindir: Path | None = None, durable: bool = False) -> None:
        """``durable``: PostgreSQL's own durability settings (fsync, synchronous commits, full pages), for a
        bench that compares engines; otherwise a test's (:data:`SETTINGS`: nothing survives a crash)."""
        self.bindir = bindir or find_bindir()
        self.durable = durable
        self._folder: Path | None = None
        self._port: int | None = None

    # -- where it is ---------------------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        if self._folder is None:
            raise ClusterError("the cluster was not started")
        return self._folder

    @property
    def port(self) -> int:
        if self._port is None:
            raise ClusterError("the cluster was not started")
        return self._port

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, dbname: str, user: str = OS_USER) -> str:
        """A libpq URL over the unix socket (trusted: no password)."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{quote(user, safe='')}@/{quote(dbname, safe='')}?host={host}&port={self.port}"

    def tcp_url(self, dbname: str, user: str = OS_USER, password: str | None = None) -> str:
        """A libpq URL over 127.0.0.1 (a password is checked for every role but the superuser)."""
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid, or None when the cluster is not running."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if process_start(pid) is not None else None

    # -- life ----------------------------------------------------------------------------------------------------

    def start(self, folder: Path) -> None:
        """``initdb`` in ``folder`` (made now: it must not exist; its parents must let the OS user in) and start
        the server on a free port, trying another if the one chosen was taken meanwhile."""
        self._make_folder(folder)
        try:
            data = str(self.data_dir)
            self._run(
                "initdb", ["-D", data, "-U", OS_USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]
            )
            self._write(self.data_dir / "pg_hba.conf", PG_HBA)
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude = 'konbini.conf'  # konbini_demo/postgres_cluster.py\n")
            for attempt in range(1, START_TRIES + 1):
                port = _free_port()
                chosen = {k: v for k, v in SETTINGS.items() if not (self.durable and k in TEST_ONLY)}
                settings = {**chosen, "port": port, "unix_socket_directories": str(self.socket_dir)}
                self._write(
                    self.data_dir / "konbini.conf", "".join(_setting(k, v) for k, v in settings.items())
                )
                log_before = self.log_path.stat().st_size if self.log_path.exists() else 0
                wait = ["-w", "-t", str(int(WAIT_S))]
                started = self._run(
                    "pg_ctl", [*wait, "-D", data, "-l", str(self.log_path), "start"], check=False
                )
                if started.returncode == 0:
                    self._port = port
                    break
                try:
                    with self.log_path.open("rb") as log:
                        log.seek(log_before)
                        new_log = log.read().decode(errors="replace")
                except OSError:
                    new_log = ""
                self._kill_postmaster()  # pg_ctl gave up waiting: a server may still be coming up
                taken = "could not bind" in new_log or "could not create any TCP/IP sockets" in new_log
                if not taken or attempt == START_TRIES:
                    raise self._error("pg_ctl start", started)
            self._write(
                folder / "cluster.json",
                json.dumps(
                    {"bindir": str(self.bindir), "port": self._port, "postmaster": self.postmaster_pid()}
                ),
            )
        except BaseException:
            self.stop()
            raise

    def _make_folder(self, folder: Path) -> None:
        """The cluster's folder and its socket folder, made now (the folder must not exist), the OS user's."""
        if len(str(folder / "socket" / ".s.PGSQL.65535")) > SOCKET_PATH_MAX:
            raise ClusterError(f"{folder}: too long a path for a unix socket in it")
        folder.mkdir(mode=0o700)
        self._folder = folder
        try:
            self._own(folder)
            self.socket_dir.mkdir(mode=0o700)
            self._own(self.socket_dir)
        except BaseException:
            self.stop()
            raise

    def start_standby(self, primary: PostgresCluster, folder: Path) -> None:
        """A streaming standby of ``primary`` in ``folder`` (made now), as docs/deploy.md makes one:
        ``pg_basebackup -R -X stream`` (it writes ``primary_conninfo`` and ``standby.signal``), then started on
        a port and socket of its own."""
        self._make_folder(folder)
        try:
            data = str(self.data_dir)
            self._run(
                "pg_basebackup",
                ["-h", str(primary.socket_dir), "-p", str(primary.port), "-U", OS_USER, "-D", data, "-R",
                 "-X", "stream", "--no-sync"],
            )  # fmt: skip
            port = _free_port()
            settings = {k: v for k, v in SETTINGS.items() if not (self.durable and k in TEST_ONLY)}
            settings = {**settings, "port": port, "unix_socket_directories": str(self.socket_dir)}
            self._write(self.data_dir / "konbini.conf", "".join(_setting(k, v) for k, v in settings.items()))
            wait = ["-w", "-t", str(int(WAIT_S))]
            self._run("pg_ctl", [*wait, "-D", data, "-l", str(self.log_path), "start"])
            self._port = port
        except BaseException:
            self.stop()
            raise

    def promote(self) -> None:
        """A standby becomes a primary (``pg_ctl promote``), as after its primary failed."""
        self._run("pg_ctl", ["-w", "-t", str(int(WAIT_S)), "-D", str(self.data_dir), "promote"])

    @classmethod
    def attach(cls, folder: Path) -> PostgresCluster:
        """A handle on the running cluster that another process started in ``folder``."""
        try:
            described = json.loads((folder / "cluster.json").read_text())
        except (OSError, ValueError) as exc:
            raise ClusterError(f"{folder}: no cluster.json to attach to ({exc})") from exc
        cluster = cls(Path(described["bindir"]))
        cluster._folder = folder
        cluster._port = int(described["port"])
        return cluster

    def stop(self) -> None:
        """Stop the server at once (``pg_ctl -m immediate``: a test cluster needs no clean shutdown) and remove
        the folder. Stopping a cluster that is not running, or is gone, only removes what is left."""
        if self._folder is None:
            return
        if self.postmaster_pid() is not None:
            stopped = self._run(
                "pg_ctl",
                ["-w", "-t", str(int(WAIT_S)), "-D", str(self.data_dir), "-m", "immediate", "stop"],
                check=False,
            )
            if stopped.returncode != 0:
                self._kill_postmaster()
        shutil.rmtree(self._folder, ignore_errors=True)
        self._port = None

    def halt(self) -> None:
        """Stop the server, keeping its folder and port: ``-m fast`` ends every connection at once, as a lost
        server does for its clients, but writes out what was committed first (this cluster commits with
        ``synchronous_commit=off``: an immediate stop would lose the last moment's commits, which a real
        server's synchronous commits never are)."""
        self._run("pg_ctl", ["-w", "-t", str(int(WAIT_S)), "-D", str(self.data_dir), "-m", "fast", "stop"])

    def resume(self) -> None:
        """Start a halted server again, on the same port (its settings file names it)."""
        self._run(
            "pg_ctl",
            ["-w", "-t", str(int(WAIT_S)), "-D", str(self.data_dir), "-l", str(self.log_path), "start"],
        )

    def _kill_postmaster(self) -> None:
        """SIGQUIT (an immediate shutdown), then SIGKILL if it is still there after a bounded wait."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        start = process_start(pid)
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + WAIT_S / 4
            while _alive(pid, start) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _alive(pid, start):
                return

    # -- SQL -----------------------------------------------------------------------------------------------------

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        """A superuser connection over the unix socket, in autocommit (CREATE/DROP DATABASE need it)."""
        try:
            return psycopg.connect(self.url(dbname), autocommit=True)
        except psycopg.OperationalError as exc:
            raise ClusterError(f"cannot connect to {dbname!r}: {exc}\n{_tail(self.log_path)}") from exc

    def sql(
        self, statement: Statement, params: Sequence[Any] | None = None, dbname: str = "postgres"
    ) -> list[Any]:
        """Run one statement as the superuser (autocommit); its rows, if it returns any."""
        with self.connect(dbname) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description is not None else []

    def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE name`` (from ``template``, which nobody may be connected to meanwhile: PostgreSQL
        waits up to 5 s for its sessions to end, then refuses). FILE_COPY copies the files and checkpoints: here
        ~15-25 ms a copy of a small schema, half of WAL_LOG's (15's default, which also writes it all to the WAL)
        with three workers copying at once."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self.sql(statement + sql.SQL(" STRATEGY FILE_COPY"))

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, ending the sessions still connected to it (PostgreSQL 13+)."""
        self.sql(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- running the binaries ------------------------------------------------------------------------------------

    def _own(self, path: Path) -> None:
        if _as_root():
            os.chown(path, *_os_user_ids())

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        self._own(path)

    def _run(self, program: str, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / program), *args]
        if _as_root():
            argv = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", OS_USER, "--", *argv]
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("PG")
        }  # no PGDATA, PGPORT of the caller
        done = subprocess.run(  # noqa: S603  Debian's own binaries, a fixed argv, no shell
            argv,
            cwd=self.folder,  # a folder the OS user can enter (not the caller's, which may be closed to it)
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            start_new_session=True,  # the terminal's ^C goes to pytest, which stops the cluster itself
            check=False,
        )
        if check and done.returncode != 0:
            raise self._error(program, done)
        return done

    def _error(self, what: str, done: subprocess.CompletedProcess[str]) -> ClusterError:
        output = (done.stdout + done.stderr).strip()
        return ClusterError(
            f"{what} failed (exit {done.returncode}) in {self._folder}: {output}\n"
            f"--- the end of {self.log_path.name} ---\n{_tail(self.log_path)}"
        )


# -- one cluster for a test run, shared by its workers -----------------------------------------------------------

LOCK_NAME = ".lock"
RUN_FILE = "run.json"  # who the folder belongs to: the run's pytest process, and the processes holding it


@dataclass(frozen=True)
class Process:
    """A process by pid and start time (a pid alone may name a later process)."""

    pid: int
    start: int | None

    @classmethod
    def of(cls, pid: int) -> Process:
        return cls(pid, process_start(pid))

    def alive(self) -> bool:
        return _alive(self.pid, self.start)


def run_id() -> str:
    """The test run's id: the one xdist gives its workers, or this process's own."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or _own_run_id


_own_run_id = uuid.uuid4().hex


def run_process() -> Process:
    """The run's pytest process: the controller under xdist (a worker's parent), else this process."""
    return Process.of(os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid())


def worker_database_name() -> str:
    """This worker's database: ``konbini_gw0``, ``konbini_gw1``, ... under xdist, ``konbini_main`` without."""
    return f"konbini_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def fresh_database(cluster: PostgresCluster, name: str, template: str | None = None) -> str:
    """Drop ``name`` (ending its sessions) and create it anew, from ``template`` if given; its socket URL."""
    cluster.drop_database(name)
    cluster.create_database(name, template)
    return cluster.url(name)


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    base.mkdir(mode=0o777, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        base.chmod(0o1777)  # shared by every user's runs (the OS user must enter it); made by the first
    fd = os.open(base / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        with contextlib.suppress(PermissionError):
            os.fchmod(fd, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel lets go if this process dies
        yield
    finally:
        os.close(fd)


def _read_run(folder: Path) -> dict[str, Any] | None:
    try:
        run: dict[str, Any] = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return run


def _write_run(folder: Path, run: dict[str, Any]) -> None:
    (folder / RUN_FILE).write_text(json.dumps(run))


def _stale(folder: Path, now: float) -> bool:
    run = _read_run(folder)
    if run is None:  # a start that died before it wrote run.json (every start and its writing hold the lock)
        return True
    owner = Process(int(run["pid"]), run.get("start"))
    return not owner.alive() or now - float(run["created"]) > STALE_AFTER_S


def sweep(base: Path = BASE_DIR) -> list[Path]:
    """Stop and remove the clusters of runs that are gone (killed) or too old; the folders removed. Call it
    holding the lock."""
    removed = []
    now = time.time()
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if not folder.is_dir() or not _stale(folder, now):
            continue
        if (folder / "cluster.json").exists():
            with contextlib.suppress(ClusterError, OSError):
                PostgresCluster.attach(folder).stop()
        else:  # no port recorded: stop the postmaster its data folder names, if any
            cluster = PostgresCluster()
            cluster._folder = folder
            with contextlib.suppress(ClusterError, OSError):
                cluster.stop()
        if not folder.exists():
            removed.append(folder)
    return removed


def acquire_shared_cluster(
    run: str | None = None, holder: Process | None = None, base: Path = BASE_DIR
) -> PostgresCluster:
    """The run's cluster, started by the first holder to ask (after sweeping away what killed runs left) and
    attached to by the others; each holder lets go with :func:`release_shared_cluster`."""
    run = run or run_id()
    holder = holder or Process.of(os.getpid())
    folder = base / f"run-{run}"
    with _locked(base):
        record = _read_run(folder)
        cluster: PostgresCluster | None = None
        if record is not None and (folder / "cluster.json").exists():
            cluster = PostgresCluster.attach(folder)
            if cluster.postmaster_pid() is None:  # it died (or a test stopped it): start it again
                cluster.stop()
                cluster = None
        if cluster is None:
            sweep(base)
            cluster = PostgresCluster()
            cluster.start(folder)
            owner = run_process()
            holders = [] if record is None else record["holders"]
            record = {"pid": owner.pid, "start": owner.start, "created": time.time(), "holders": holders}
        if record is None:
            raise ClusterError(f"{folder}: no record of the run that holds it")
        record["holders"] = [*record["holders"], [holder.pid, holder.start]]
        _write_run(folder, record)
        return cluster


def release_shared_cluster(
    cluster: PostgresCluster, holder: Process | None = None, base: Path = BASE_DIR
) -> bool:
    """Let go of the run's cluster; the last holder (dead holders do not count) stops it. True if it stopped."""
    holder = holder or Process.of(os.getpid())
    with _locked(base):
        record = _read_run(cluster.folder)
        if record is None:
            return False
        holders = [h for h in record["holders"] if Process(*h) != holder and Process(*h).alive()]
        if holders:
            record["holders"] = holders
            _write_run(cluster.folder, record)
            return False
        cluster.stop()
        return True


@contextlib.contextmanager
def private_cluster(base: Path = BASE_DIR, durable: bool = False) -> Iterator[PostgresCluster]:
    """A cluster of the caller's own (a test that stops or breaks it, a bench, a demo), swept like the shared
    ones if the run is killed before the ``with`` ends."""
    folder = base / f"own-{uuid.uuid4().hex}"
    owner = run_process()
    with _locked(base):
        cluster = PostgresCluster(durable=durable)
        cluster.start(folder)
        _write_run(folder, {"pid": owner.pid, "start": owner.start, "created": time.time(), "holders": []})
    try:
        yield cluster
    finally:
        cluster.stop()
