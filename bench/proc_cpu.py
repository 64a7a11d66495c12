"""CPU time of processes and threads from /proc, for the benches (Linux)."""

from __future__ import annotations

import os
import re
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process so far (all its threads)."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def thread_cpu(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds of each thread of ``pid`` so far, by (tid, role): the server names its worker threads
    (``issuance_server.thread_names``); the role drops a pool thread's number, the main thread is the loop."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            seconds = _stat_cpu(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        role = "event loop" if task.name == str(pid) else re.sub(r"[_-]\d+$", "", name)
        out[(int(task.name), role)] = seconds
    return out


def by_role(before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]) -> dict[str, float]:
    """CPU seconds spent between two :func:`thread_cpu` readings, summed by role."""
    roles: dict[str, float] = {}
    for key, seconds in after.items():
        roles[key[1]] = roles.get(key[1], 0.0) + seconds - before.get(key, 0.0)
    return roles


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (e.g. the server's checker and sync processes)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
        except OSError:
            continue
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``, of its children that ended (the kernel adds them to it when it reaps them)
    and of those alive: the whole of a server that forks workers which come and go (PostgreSQL's
    backends, autovacuum, parallel workers). A difference of two readings counts every child in between."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
    for child in children(pid):
        try:
            total += cpu_seconds(child)
        except OSError:  # it ended meanwhile: counted in cutime at the next reading
            continue
    return total
