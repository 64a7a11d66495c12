"""Printing a certificate: through CUPS (``lp`` takes the PDF on stdin, so no copy is left on disk), watched
until the job completes, fails or times out; or, for scripts without a printer, into a folder.

``pycups`` (OpenPrinting's binding of libcups) reads the job's IPP state, which ``lpstat`` does not print:
completed, aborted (a jam: the queue's error policy is ``abort-job``) or canceled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cups

log = logging.getLogger("konbini.devices.printing")

# IPP job-state values (RFC 8011 5.3.7)
_PENDING, _HELD, _PROCESSING, _STOPPED, _CANCELED, _ABORTED, _COMPLETED = range(3, 10)
_JOB_ID = re.compile(r"request id is (\S+)-(\d+)")


@dataclass(frozen=True)
class PrintResult:
    printed: bool
    code: str  # printed, printer_refused, print_failed, print_timeout, print_in_doubt
    detail: str = ""  # the printer's own words, for the log (never shown to a resident)
    path: Path | None = None  # where a folder printer wrote the file

    @property
    def in_doubt(self) -> bool:
        """The printer has the job and stopped answering before it could say whether the page came out, or
        cancel it: it may still come out when the printer answers again (ask :meth:`Printer.outcome`)."""
        return self.code == "print_in_doubt"


class Printer(Protocol):
    async def print_pdf(
        self, pdf: bytes, title: str, accepted: Callable[[str], None] | None = None
    ) -> PrintResult:
        """Print and follow the job to its end; ``accepted`` is told the job's reference once the printer
        has the job (before it ends: a process that dies then can ask :meth:`outcome`)."""
        ...

    async def outcome(self, job: str | None) -> PrintResult:
        """What became of a job that a process which died handed over: followed to its end as
        :meth:`print_pdf` would have (any end but printed cancels it). ``None``: the process died before it
        learnt the job's reference: every job of the queue not yet ended is cancelled, none printed."""
        ...


@dataclass
class CupsPrinter:
    """A CUPS queue. ``server``: CUPS_SERVER (a socket path or host[:port]); None: the system's default."""

    queue: str
    server: str | None = None
    timeout_s: float = 120.0
    poll_s: float = 0.1

    async def print_pdf(
        self, pdf: bytes, title: str, accepted: Callable[[str], None] | None = None
    ) -> PrintResult:
        args = ["lp", *(["-h", self.server] if self.server else []), "-d", self.queue, "-t", title, "-"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C"},
            )
        except OSError as exc:
            return PrintResult(False, "printer_refused", f"cannot run lp: {exc}")
        out, err = await proc.communicate(pdf)
        match = _JOB_ID.search(out.decode(errors="replace"))
        if proc.returncode != 0 or match is None:
            return PrintResult(False, "printer_refused", err.decode(errors="replace").strip()[:300])
        if accepted is not None:
            accepted(match[2])
        return await self._watch(int(match[2]))

    async def _watch(self, job: int) -> PrintResult:
        """Follow the job to its end. Any end but completed (failed, timed out, the kiosk giving up) cancels
        and purges the job, so a voided certificate never comes out later. A CUPS that stops answering is
        asked again until the deadline (it may be restarting, and it resumes its jobs when it comes back);
        one that cannot be asked to cancel by then leaves the job in doubt."""
        result: PrintResult | None = None
        try:
            result = await self._follow(job)
        finally:
            if result is None or not result.printed:
                result = await asyncio.shield(self._stop(job, result))
        return result

    async def _follow(self, job: int) -> PrintResult:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.timeout_s
        unanswered = ""
        while True:
            try:
                result = _ended(await loop.run_in_executor(None, self._job_attributes, job))
            except (cups.IPPError, RuntimeError) as exc:
                if _not_found(exc):  # purged (cancelled) before: it will never print
                    return PrintResult(False, "print_failed", f"job {job}: {exc}")
                unanswered, result = f"cannot read job {job}: {exc}", None
            if result is not None:
                return result
            if time.monotonic() > deadline:
                return PrintResult(
                    False, "print_timeout", unanswered or f"not printed in {self.timeout_s:.0f} s"
                )
            await asyncio.sleep(self.poll_s)

    async def _stop(self, job: int, result: PrintResult | None) -> PrintResult:
        """An unprinted job's last word: printed after all (it completed meanwhile), cancelled (not printed),
        or in doubt (CUPS could not be asked to cancel it: it may still come out)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(cups.IPPError, RuntimeError):
            ended = _ended(await loop.run_in_executor(None, self._job_attributes, job))
            if ended is not None and ended.printed:
                return ended
        if not await loop.run_in_executor(None, self._cancel, job):
            return PrintResult(False, "print_in_doubt", result.detail if result else "")
        return result or PrintResult(False, "print_failed", "cancelled")

    async def outcome(self, job: str | None) -> PrintResult:
        if job is not None:
            return await self._watch(int(job))  # a job that completed answers at once
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._cancel_unfinished)
        except (cups.IPPError, RuntimeError) as exc:
            log.warning("could not cancel the queue's unfinished jobs: %s", exc)
            return PrintResult(False, "print_in_doubt", f"the job's reference was not kept; {exc}")
        return PrintResult(False, "print_failed", "the job's reference was not kept")

    def _cancel_unfinished(self) -> None:
        jobs = self._connection().getJobs(
            which_jobs="not-completed", requested_attributes=["job-printer-uri"]
        )
        for job, attrs in jobs.items():
            ours = str(attrs.get("job-printer-uri", "")).rstrip("/").endswith(f"/{self.queue}")
            if ours and not self._cancel(job):
                raise RuntimeError(f"CUPS stopped answering while job {job} was cancelled")

    def _connection(self) -> cups.Connection:
        return cups.Connection(host=self.server) if self.server else cups.Connection()

    def _job_attributes(self, job: int) -> dict[str, Any]:
        return dict(
            self._connection().getJobAttributes(
                job, requested_attributes=["job-state", "job-printer-state-message"]
            )
        )

    def _cancel(self, job: int) -> bool:
        """Cancel and purge ``job``: True unless CUPS could not be asked (then it may still print)."""
        try:
            self._connection().cancelJob(job, purge_job=True)
        except (cups.IPPError, RuntimeError) as exc:
            if _unreachable(exc):
                log.warning("could not cancel print job %s: %s", job, exc)
                return False
            # not found (purged already: a cancel repeated) or not possible (it ended): nothing will print
        return True


def _ended(attrs: dict[str, Any]) -> PrintResult | None:
    """The job's end from its IPP attributes; None while it is pending, held or processing."""
    state = int(attrs.get("job-state", 0))
    message = str(attrs.get("job-printer-state-message", ""))
    if state == _COMPLETED:
        return PrintResult(True, "printed")
    if state in (_ABORTED, _CANCELED, _STOPPED):
        return PrintResult(False, "print_failed", message or f"job state {state}")
    return None


def _not_found(exc: cups.IPPError | RuntimeError) -> bool:
    return isinstance(exc, cups.IPPError) and bool(exc.args) and exc.args[0] == cups.IPP_NOT_FOUND


def _unreachable(exc: cups.IPPError | RuntimeError) -> bool:
    """No CUPS to ask: pycups cannot connect (RuntimeError), or libcups's request got no answer."""
    return isinstance(exc, RuntimeError) or (
        bool(exc.args) and exc.args[0] in (cups.IPP_SERVICE_UNAVAILABLE, cups.IPP_INTERNAL_ERROR, -1)
    )


@dataclass
class FolderPrinter:
    """Writes each certificate to ``folder`` (scripts, and machines without a printer), never over a file
    already there: a second certificate with the same serial (another data folder's) gets ``-2``, ``-3``..."""

    folder: Path

    async def outcome(self, job: str | None) -> PrintResult:
        """A certificate is in the folder whole (linked into place, ``job`` its path) or not at all."""
        if job is not None and Path(job).exists():
            return PrintResult(True, "printed", path=Path(job))
        return PrintResult(False, "print_failed")

    async def print_pdf(
        self, pdf: bytes, title: str, accepted: Callable[[str], None] | None = None
    ) -> PrintResult:
        tmp = self.folder / f".certificate-{title}.{os.getpid()}.part"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(pdf)
            n = 1
            while True:  # link, not rename: whole or absent, and never over another file
                name = f"certificate-{title}.pdf" if n == 1 else f"certificate-{title}-{n}.pdf"
                path = self.folder / name
                try:
                    os.link(tmp, path)
                    break
                except FileExistsError:
                    n += 1
            tmp.unlink()
        except OSError as exc:
            return PrintResult(False, "printer_refused", f"cannot write to {self.folder}: {exc}")
        if accepted is not None:
            accepted(str(path))
        return PrintResult(True, "printed", path=path)
