"""A PostgreSQL database's own records as a file, outside the running server: a backup (``pg_dump``, custom
format, the replica's generations left out: ``konbini-ops sync`` rebuilds them), its restore check in a
scratch database of the same server, and a restore. PostgreSQL's counterpart of ``sqlite_files``.

The database role needs ``CREATEDB`` for the restore check (it makes and drops a scratch database); the
``pg_dump``/``pg_restore`` on the PATH must be of the server's major version or newer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from psycopg import sql

from issuance_server.storage.engine import DatabaseUnavailable, Tx
from issuance_server.storage.postgres import connect, in_read_transaction

T = TypeVar("T")
REPLICA_SCHEMAS = "replica_*"


class DumpError(Exception):
    """pg_dump or pg_restore failed (their message), or is not installed."""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DumpError(f"{name} is not installed (Debian: apt install postgresql-client)")
    return found


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that passes it (never on a command line)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url, dict(os.environ)
    netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
    env = {**os.environ, "PGPASSWORD": urllib.parse.unquote(parts.password)}
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), env


def _run(args: list[str], url: str) -> None:
    bare, env = _without_password(url)
    args = [a.replace("{url}", bare) for a in args]
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)  # noqa: S603  a fixed program, no shell
    if done.returncode != 0:
        raise DumpError(f"{Path(args[0]).name} failed: {' '.join(done.stderr.split())[:400]}")


def dump(url: str, target: Path) -> None:
    """A consistent snapshot of the database (one transaction of pg_dump's) into ``target``."""
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--exclude-schema={REPLICA_SCHEMAS}",
          f"--file={target}", "--dbname={url}"], url)  # fmt: skip


def restore_into(url: str, source: Path, clean: bool) -> None:
    """``source`` (a dump) into the database at ``url``; ``clean``: its objects dropped first."""
    args = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname={url}"]
    if clean:
        args += ["--clean", "--if-exists", "--single-transaction"]
    _run([*args, str(source)], url)


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new empty database on the server of ``url`` (its URL), dropped afterwards."""
    base = urllib.parse.urlsplit(url).path.strip("/") or "konbini"
    name = f"{base}_restore_check_{secrets.token_hex(4)}"
    with connect(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        with contextlib.suppress(DatabaseUnavailable), connect(url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def read_database(url: str, fn: Callable[[Tx], T]) -> T:
    """``fn(tx)`` in a read transaction on a connection of its own."""
    with connect(url) as conn:
        return in_read_transaction(conn, fn, None)


def counts(url: str, tables: Iterable[str]) -> dict[str, int]:
    """The rows of each table."""
    with connect(url) as conn:
        return {
            t: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0])  # type: ignore[index]
            for t in tables
        }
