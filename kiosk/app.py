"""Putting the kiosk app together: the engine with its card reader, printer, payment device and server
client; the card watcher and the idle clock; the local interface (``konbini-kiosk serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devices.card.errors import CardError, NoReader
from devices.card.pcsc import list_readers
from devices.card.watch import CardWatcher
from devices.printing import CupsPrinter, FolderPrinter, Printer
from kiosk.catalogue import languages
from kiosk.demo_card import DemoCard
from kiosk.doubts import settle_doubts
from kiosk.engine import KioskEngine
from kiosk.journal import Journal
from kiosk.local_api import make_local_app
from kiosk.payment import SimulatedPaymentDevice
from kiosk.pcsc_card import PcscCard
from kiosk.settings import KioskSettings, data_folder
from kiosk.unfinished import finish_unfinished
from wire.cert_record import load_public_key
from wire.files import OutputError, writable_folder
from wire.kiosk_client import KioskClient, KioskCredentials
from wire.serving import LOCAL_SHUTDOWN_S, ListenError, start_site, until_stopped

log = logging.getLogger("konbini.kiosk")


def resolve_reader(settings: KioskSettings) -> str:
    """The configured reader, or the first pcscd lists; a CardError (pcscd down, no reader) otherwise."""
    readers = list_readers()
    if settings.reader:
        if settings.reader not in readers:
            raise NoReader(f"reader {settings.reader!r} not found; readers: {', '.join(readers) or 'none'}")
        return settings.reader
    if not readers:
        raise NoReader(
            "no smart-card reader is connected; plug in the reader (for the demo: is vpcd set up?)"
        )
    return readers[0]


def make_printer(settings: KioskSettings) -> Printer:
    if settings.printer:
        return CupsPrinter(settings.printer, settings.cups_server or None, settings.print_timeout_s)
    return FolderPrinter(settings.spool_dir)


def issuing_key(creds: KioskCredentials, path: Path) -> Ed25519PublicKey:
    """The city's issuing public key from the enrolment, which the print guard checks every sheet against."""
    if creds.issuing_key is None:
        raise SystemExit(
            f"error: kiosk credentials {path} name no issuing key (the print guard checks every certificate"
            " against it); enrol the kiosk again with konbini-ops kiosk-add"
        )
    try:
        return load_public_key(creds.issuing_key)
    except (ValueError, OSError) as exc:
        raise SystemExit(
            f"error: the issuing key {creds.issuing_key} cannot be read ({exc}); enrol again"
        ) from None


def make_engine(settings: KioskSettings, reader: str) -> KioskEngine:
    creds = KioskCredentials.load(settings.credentials)
    folder = data_folder(settings)
    try:
        writable_folder(folder)
    except OutputError as exc:
        raise SystemExit(f"error: the kiosk's data folder: {exc}; set --data-dir") from None
    return KioskEngine(
        KioskClient(creds, settings.server or None, retry_s=settings.retry_s),
        PcscCard(reader),
        make_printer(settings),
        SimulatedPaymentDevice(manual=settings.payment_manual, ledger_file=folder / "payment-device.json"),
        issuing_key(creds, settings.credentials),
        journal=Journal(folder / "journal.sqlite3"),
        languages=languages(),
        idle_timeout_s=settings.idle_timeout_s,
        card_out_idle_s=settings.card_out_idle_s,
        idle_warning_s=settings.idle_warning_s,
        farewell_s=settings.farewell_s,
        payment_timeout_s=settings.payment_timeout_s,
    )


@contextlib.asynccontextmanager
async def running(
    engine: KioskEngine, reader: str, doubt_retry_s: float = 30.0
) -> AsyncIterator[CardWatcher]:
    """The engine live: card events from ``reader``, the idle clock and prints in doubt asked about every
    ``doubt_retry_s``; on exit the session is ended (refunding what is owed) and the card released."""
    watcher = CardWatcher(reader, engine.card_changed, asyncio.get_running_loop())
    watcher.start()

    async def clock() -> None:
        while True:
            await asyncio.sleep(0.5)
            await engine.tick()

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(clock()), loop.create_task(keep_finishing(engine, doubt_retry_s))]
    try:
        yield watcher
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        watcher.stop()
        await engine.close()
        await engine.api.close()


async def keep_finishing(engine: KioskEngine, every_s: float) -> None:
    """Between residents, every ``every_s``: sessions the journal holds open (a print whose end was not
    known when a visit ended) are finished (:mod:`kiosk.unfinished`), and the printer is asked about each
    print in doubt (:mod:`kiosk.doubts`)."""
    journal = engine.journal
    while journal is not None:
        if not engine.between_visits:
            await asyncio.sleep(every_s)
            continue
        idle = lambda: engine.between_visits  # noqa: E731  read again before each session and doubt
        parts = (engine.api, engine.payment, engine.printer, idle)
        try:
            if journal.open_sessions():
                finished = await finish_unfinished(journal, *parts)
                _say(finished, bool(finished.sessions))
            if journal.doubts():
                settled = await settle_doubts(journal, *parts)
                _say(settled, settled.anything)
        except Exception:  # keep trying; say what went wrong
            log.exception("finishing what is open failed")
        await asyncio.sleep(every_s)


async def finish_what_was_left_open(engine: KioskEngine) -> None:
    """What the terminal's journal holds from a run that died (power, kill -9), finished before the first
    resident: print reports, the server's sessions ended, refunds the device has not given (prints in doubt
    are asked about in the background: a printer that does not answer must not hold the first resident)."""
    journal = engine.journal
    if journal is None:
        return
    if journal.open_sessions():
        _say(await finish_unfinished(journal, engine.api, engine.payment, engine.printer))


def _say(done: object, anything: bool = True) -> None:
    """What finishing did, in the log and on the app's output (people and tests read it there)."""
    if anything:
        log.warning("%s", done)
        print(f"kiosk app: {done}", flush=True)


async def serve(settings: KioskSettings) -> None:
    try:
        reader = resolve_reader(settings)
    except CardError as exc:
        raise SystemExit(f"error: {exc.code}: {exc}") from None
    engine = make_engine(settings, reader)
    await finish_what_was_left_open(engine)
    card = (
        DemoCard(settings.demo_card, settings.demo_vpcd_port)
        if str(settings.demo_card) not in ("", ".")
        else None
    )
    app = make_local_app(engine, settings.host, settings.port, settings.demo, card)
    # A stop must not wait for the page's long-polls (up to 25 s): cut them after 1 s, then end the session
    # and release the card (the next app on this reader found it still held by a process killed late).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=LOCAL_SHUTDOWN_S)
    await runner.setup()
    async with running(engine, reader, settings.doubt_retry_s):
        try:
            await start_site(runner, settings.host, settings.port)
        except ListenError:
            await runner.cleanup()
            raise
        printer = settings.printer or f"folder {settings.spool_dir}"
        log.info(
            "kiosk app ready on http://%s:%d (reader %s, printer %s)",
            settings.host,
            settings.port,
            reader,
            printer,
        )
        print(f"kiosk app ready on http://{settings.host}:{settings.port}", flush=True)
        try:
            await until_stopped()  # a clean stop ends the session (refunds) and the demo card
        finally:
            if card is not None:
                await card.remove()
            await runner.cleanup()
