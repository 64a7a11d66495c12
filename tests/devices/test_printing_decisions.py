"""What the kiosk's CUPS printer decides from what CUPS answers, with a fake pycups connection (the same
across a real cupsd: tests/e2e/test_kiosk_crash_e2e.py): a job that cannot be cancelled is in doubt, a job
that ended as it was cancelled may have printed, a job number of another certificate is not this one's,
and without a job number the queue is searched by the certificate's serial, never emptied."""

from __future__ import annotations

from typing import Any

import cups
import pytest

from devices.printing import CupsPrinter

COMPLETED, PENDING = 9, 3


class FakeCups:
    """The jobs CUPS has (number -> attributes), and whether it answers."""

    def __init__(self, jobs: dict[int, dict[str, Any]], answering: bool = True) -> None:
        self.jobs, self.answering, self.cancelled = jobs, answering, list[int]()

    def __call__(self) -> FakeCups:  # CupsPrinter._connection
        if not self.answering:
            raise RuntimeError("failed to connect to server")
        return self

    def getJobAttributes(self, job: int, requested_attributes: list[str]) -> dict[str, Any]:
        if job not in self.jobs:
            raise cups.IPPError(cups.IPP_NOT_FOUND, f"Job #{job} does not exist.")
        return self.jobs[job]

    def getJobs(self, which_jobs: str, requested_attributes: list[str]) -> dict[int, dict[str, Any]]:
        return {j: {**a, "job-printer-uri": "ipp://localhost/printers/q"} for j, a in self.jobs.items()}

    def cancelJob(self, job: int, purge_job: bool) -> None:
        if job not in self.jobs:
            raise cups.IPPError(cups.IPP_NOT_FOUND, "not found")
        if self.jobs[job]["job-state"] == COMPLETED:
            raise cups.IPPError(cups.IPP_NOT_POSSIBLE, "already completed")
        self.cancelled.append(job)
        del self.jobs[job]


def printer(fake: FakeCups) -> CupsPrinter:
    p = CupsPrinter("q", timeout_s=0.2, poll_s=0.01)
    p._connection = fake  # type: ignore[method-assign]
    return p


async def test_a_job_cups_cannot_be_asked_to_cancel_is_in_doubt() -> None:
    fake = FakeCups({7: {"job-state": PENDING, "job-name": "S1"}}, answering=False)
    result = await printer(fake).outcome("7", "S1")
    assert result.in_doubt and not result.printed


async def test_a_job_still_waiting_is_cancelled_and_not_printed() -> None:
    fake = FakeCups({7: {"job-state": PENDING, "job-name": "S1"}})
    result = await printer(fake).outcome("7", "S1")
    assert (result.printed, result.in_doubt, fake.cancelled) == (False, False, [7])


async def test_a_job_that_completed_is_printed() -> None:
    fake = FakeCups({7: {"job-state": COMPLETED, "job-name": "S1"}})
    result = await printer(fake).outcome("7", "S1")
    assert result.printed and fake.cancelled == []


async def test_a_job_number_of_another_certificate_is_not_this_ones_and_is_left_alone() -> None:
    """A cupsd that lost its spool numbers jobs anew: job 7 is now another resident's."""
    fake = FakeCups({7: {"job-state": PENDING, "job-name": "S2"}})
    result = await printer(fake).outcome("7", "S1")
    assert not result.printed and not result.in_doubt and 7 in fake.jobs


@pytest.mark.parametrize(("jobs", "printed"), [({5: COMPLETED}, True), ({5: PENDING}, False), ({}, False)])
async def test_without_its_number_the_job_is_found_by_the_serial_and_other_jobs_are_left_alone(
    jobs: dict[int, int], printed: bool
) -> None:
    fake = FakeCups(
        {
            **{j: {"job-state": s, "job-name": "S1"} for j, s in jobs.items()},
            6: {"job-state": PENDING, "job-name": "S9"},
        }
    )
    result = await printer(fake).outcome(None, "S1")
    assert result.printed is printed and not result.in_doubt
    assert 6 in fake.jobs and fake.cancelled == ([5] if jobs == {5: PENDING} else [])


async def test_without_its_number_and_without_cups_the_job_is_in_doubt() -> None:
    result = await printer(FakeCups({}, answering=False)).outcome(None, "S1")
    assert result.in_doubt
