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
    code: str  # printed, printer_refused, print_failed, print_timeout, print_in_doubt, job_gone (never to print)
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

    async def outcome(self, job: str | None, title: str) -> PrintResult:
        """What became of the job titled ``title`` (a certificate's serial) that a process which died, or
        lost its printer, handed over: followed to its end as :meth:`print_pdf` would have (any end but
        printed cancels it). ``job``: its reference, if the process learnt it; a job of another title under
        that reference (a printer that lost its jobs numbers anew) is not this one. No such job: not
        printed. A printer that cannot be asked: in doubt."""
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
        return await self._watch(int(match[2]), title)

    async def _watch(self, job: int, title: str) -> PrintResult:
        """Follow the job to its end. Any end but completed (failed, timed out, the kiosk giving up) cancels
        and purges the job, so a voided certificate never comes out later. A CUPS that stops answering is
        asked again until the deadline (it may be restarting, and it resumes its jobs when it comes back);
        one that cannot be asked to cancel by then leaves the job in doubt."""
        result: PrintResult | None = None
        try:
            result = await self._follow(job, title)
        finally:
            if result is None or not (result.printed or result.code == "job_gone"):
                result = await asyncio.shield(self._stop(job, title, result))
        return result

    async def _follow(self, job: int, title: str) -> PrintResult:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.timeout_s
        unanswered = ""
        while True:
            try:
                attrs = await loop.run_in_executor(None, self._job_attributes, job, title)
            except (cups.IPPError, RuntimeError) as exc:
                unanswered, attrs = f"cannot read job {job}: {exc}", {}
            if attrs is None:  # purged (cancelled) before, or the number is another job's: left alone
                return PrintResult(False, "job_gone", f"job {job} of {title} is gone")
            result = _ended(attrs)
            if result is not None:
                return result
            if time.monotonic() > deadline:
                return PrintResult(
                    False, "print_timeout", unanswered or f"not printed in {self.timeout_s:.0f} s"
                )
            await asyncio.sleep(self.poll_s)

    async def _stop(self, job: int, title: str, result: PrintResult | None) -> PrintResult:
        """An unprinted job's last word: printed after all (it completed meanwhile), cancelled (not printed),
        or in doubt (CUPS could not be asked to cancel it: it may still come out)."""
        loop = asyncio.get_running_loop()
        cancelled = await loop.run_in_executor(None, self._cancel, job)
        if cancelled is None:
            return PrintResult(False, "print_in_doubt", result.detail if result else "")
        if not cancelled:  # it had ended: completed, just now?
            with contextlib.suppress(cups.IPPError, RuntimeError):
                attrs = await loop.run_in_executor(None, self._job_attributes, job, title)
                ended = _ended(attrs or {})
                if ended is not None and ended.printed:
                    return ended
        return (
            result
            if result is not None and not result.printed
            else PrintResult(False, "print_failed", "cancelled")
        )

    async def outcome(self, job: str | None, title: str) -> PrintResult:
        if job is None:
            loop = asyncio.get_running_loop()
            try:
                found = await loop.run_in_executor(None, self._job_titled, title)
            except (cups.IPPError, RuntimeError) as exc:
                return PrintResult(False, "print_in_doubt", f"cannot list the queue's jobs: {exc}")
            if found is None:
                return PrintResult(False, "print_failed", f"no job of {title} in the queue")
            job = str(found)
        return await self._watch(int(job), title)  # a job that completed answers at once

    def _job_titled(self, title: str) -> int | None:
        """The newest job of this queue titled ``title``, ended or not."""
        jobs = self._connection().getJobs(
            which_jobs="all", requested_attributes=["job-printer-uri", "job-name"]
        )
        ours = [
            job
            for job, attrs in jobs.items()
            if str(attrs.get("job-printer-uri", "")).rstrip("/").endswith(f"/{self.queue}")
            and attrs.get("job-name") == title
        ]
        return max(ours, default=None)

    def _connection(self) -> cups.Connection:
        return cups.Connection(host=self.server) if self.server else cups.Connection()

    def _job_attributes(self, job: int, title: str) -> dict[str, Any] | None:
        """The job's state, or None when CUPS has no such job of ``title`` (purged, or the number is
        another job's)."""
        try:
            attrs = dict(
                self._connection().getJobAttributes(
                    job, requested_attributes=["job-state", "job-printer-state-message", "job-name"]
                )
            )
        except cups.IPPError as exc:
            if exc.args and exc.args[0] == cups.IPP_NOT_FOUND:
                return None
            raise
        return attrs if attrs.get("job-name", title) == title else None

    def _cancel(self, job: int) -> bool | None:
        """Cancel and purge ``job``: True once cancelled (or gone), False when it had already ended (it may
        have completed), None when CUPS could not be asked (it may still print)."""
        try:
            self._connection().cancelJob(job, purge_job=True)
        except (cups.IPPError, RuntimeError) as exc:
            status = exc.args[0] if isinstance(exc, cups.IPPError) and exc.args else None
            if status == cups.IPP_NOT_FOUND:
                return True  # purged already: a cancel repeated
            if status == cups.IPP_NOT_POSSIBLE:
                return False
            log.warning("could not cancel print job %s: %s", job, exc)
            return None
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


@dataclass
class FolderPrinter:
    """Writes each certificate to ``folder`` (scripts, and machines without a printer), never over a file
    already there: a second certificate with the same serial (another data folder's) gets ``-2``, ``-3``..."""

    folder: Path

    async def outcome(self, job: str | None, title: str) -> PrintResult:
        """A certificate is in the folder whole (linked into place, ``job`` its path; without it, a file
        named after ``title``) or not at all."""
        found = [Path(job)] if job is not None else sorted(self.folder.glob(f"certificate-{title}*.pdf"))
        if found and found[-1].exists():
            return PrintResult(True, "printed", path=found[-1])
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
