"""A kiosk certificate checked against ``kiosks`` is remembered briefly: a removal through this server
takes effect at once, one written to the database by another server within RECHECK_S."""

from __future__ import annotations

from pathlib import Path

from issuance_server.enrolment import store
from issuance_server.enrolment.kiosks import RECHECK_S, EnrolledKiosks
from issuance_server.storage.database import Database
from issuance_server.storage.migrate import prepare_database
from wire.tls import fingerprint

CERT = b"a kiosk certificate's DER"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def enrolled_db(tmp_path: Path) -> Database:
    prepare_database(tmp_path / "server.sqlite3")
    db = await Database.open(tmp_path / "server.sqlite3")
    sha256 = fingerprint(CERT)
    await db.write(
        lambda tx: store.enrol_kiosk(tx, "kiosk-1", sha256, "1a", "2999-01-01T00:00:00+00:00", "", "now")
    )
    return db


async def test_a_removal_by_another_server_is_seen_within_the_recheck_time(tmp_path: Path) -> None:
    db, clock = await enrolled_db(tmp_path), Clock()
    kiosks = EnrolledKiosks(clock)
    try:
        assert await kiosks.kiosk_of(db, CERT) == "kiosk-1"
        await db.write(lambda tx: store.remove_kiosk(tx, "kiosk-1", "later"))  # as another node would
        clock.now += RECHECK_S / 2
        assert await kiosks.kiosk_of(db, CERT) == "kiosk-1"  # remembered
        clock.now += RECHECK_S
        assert await kiosks.kiosk_of(db, CERT) is None  # read again: removed
    finally:
        await db.close()


async def test_forget_makes_the_next_request_read_the_table(tmp_path: Path) -> None:
    db, clock = await enrolled_db(tmp_path), Clock()
    kiosks = EnrolledKiosks(clock)
    try:
        assert await kiosks.kiosk_of(db, CERT) == "kiosk-1"
        await db.write(lambda tx: store.remove_kiosk(tx, "kiosk-1", "later"))
        kiosks.forget()  # what enrolment.kiosks.remove does after its write
        assert await kiosks.kiosk_of(db, CERT) is None
    finally:
        await db.close()


async def test_an_expired_certificate_is_refused_even_while_remembered(tmp_path: Path) -> None:
    prepare_database(tmp_path / "server.sqlite3")
    db = await Database.open(tmp_path / "server.sqlite3")
    sha256 = fingerprint(CERT)
    await db.write(
        lambda tx: store.enrol_kiosk(tx, "kiosk-1", sha256, "1a", "2000-01-01T00:00:00+00:00", "", "now")
    )
    try:
        assert await EnrolledKiosks(Clock()).kiosk_of(db, CERT) is None
    finally:
        await db.close()
