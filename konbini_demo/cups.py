"""A private CUPS server for the demo and the end-to-end tests (Debian ``cups``; no systemd needed).

``cupsd`` runs in the foreground with its own configuration, spool and socket in a fresh folder under
/tmp (its filters run as user ``lp``, who must be able to enter it), so it never touches the machine's
own printers. Queues, made with ``lpadmin``:

- ``pdf``: a virtual PDF printer (``printer-driver-cups-pdf``); each job lands in ``out_dir`` as
  ``<title>*.pdf``, re-made by Ghostscript (check it through its QR code, not its text);
- ``jam`` and ``offline``: a test backend that fails every job (a paper jam; a printer that does not
  answer), with ``printer-error-policy abort-job``;
- ``stuck``: a test backend that never finishes (a printer that hangs; the kiosk's timeout cancels);
- ``rejecting``: a queue that refuses jobs (``cupsreject``: ``lp`` itself fails).

cups-pdf reads its per-queue settings only from ``/etc/cups/cups-pdf-<queue>.conf``; that one file is
written there for the run and removed at the end. Queue names carry a suffix unique to the server, so two
servers (two test runs, a demo beside the tests) never write each other's file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from konbini_demo.processes import Service, ServiceError

CUPS_PDF_PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
SYSTEM_CUPS_BIN = Path("/usr/lib/cups")
TEST_BACKEND = """#!/bin/sh
# konbini test printer: without arguments, CUPS asks what it is; 'stuck' never finishes; else a jam.
[ $# -eq 0 ] && { echo 'direct konbini-test "Unknown" "konbini test printer"'; exit 0; }
case "$DEVICE_URI" in
  *stuck*) exec sleep 100000 ;;
  *offline*) echo "ERROR: printer not responding (konbini test printer)" >&2; exit 1 ;;
  *) echo "ERROR: paper jam (konbini test printer)" >&2; exit 1 ;;
esac
"""


class CupsServer:
    def __init__(self, out_dir: Path, log_dir: Path, name: str = "konbini") -> None:
        self.out_dir = out_dir.resolve()
        self.log_dir = log_dir
        self.root = Path(tempfile.mkdtemp(prefix="konbini-cups-"))
        # Queue names and cups-pdf's configuration file (machine-wide, by queue) unique to this server:
        # two runs on one machine never share them.
        self.name = f"{name}-{self.root.name.removeprefix('konbini-cups-')}"
        self.socket = str(self.root / "cups.sock")
        self.service: Service | None = None
        self.queues: dict[str, str] = {}
        self._pdf_conf: Path | None = None

    def queue(self, role: str) -> str:
        return self.queues[role]

    def start(self) -> None:
        for tool in ("cupsd", "lpadmin", "lp"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise ServiceError(f"{tool} not found; install Debian's cups (make install does)")
        # Its filters run as user lp, who must enter these folders whatever umask the caller has (a
        # process that ran a konbini command's main() in-process has 077: the filters then failed).
        for sub in ("conf", "spool/tmp", "cache", "state", "logs", "bin/backend"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for folder in [self.root, *self.root.rglob("*")]:
            folder.chmod(0o755)
        for item in SYSTEM_CUPS_BIN.iterdir():
            if item.name != "backend":
                (self.root / "bin" / item.name).symlink_to(item)
        for backend in (SYSTEM_CUPS_BIN / "backend").iterdir():
            (self.root / "bin/backend" / backend.name).symlink_to(backend)
        test_backend = self.root / "bin/backend/konbini-test"
        test_backend.write_text(TEST_BACKEND)
        test_backend.chmod(0o700)  # run as root by cupsd, like cups-pdf
        conf = self.root / "conf"
        (conf / "cupsd.conf").write_text(
            f"Listen {self.socket}\nLogLevel info\nWebInterface No\nBrowsing Off\nDefaultAuthType None\n"
            "PreserveJobFiles No\n"  # no certificate stays in the spool once printed
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Policy default>\n  <Limit All>\n    Order allow,deny\n    Allow all\n  </Limit>\n</Policy>\n"
        )
        r = self.root
        (conf / "cups-files.conf").write_text(
            f"ServerRoot {conf}\nServerBin {r}/bin\nRequestRoot {r}/spool\nTempDir {r}/spool/tmp\n"
            f"CacheDir {r}/cache\nStateDir {r}/state\nAccessLog {r}/logs/access_log\n"
            f"ErrorLog {r}/logs/error_log\nPageLog {r}/logs/page_log\nSystemGroup root\n"
        )
        self.start_daemon()
        self._add_queues()

    def start_daemon(self) -> None:
        """cupsd on this server's folder (again, after :meth:`stop_daemon`: it resumes the spooled jobs)."""
        conf = self.root / "conf"
        cupsd = shutil.which("cupsd") or "/usr/sbin/cupsd"
        self.service = Service(
            f"cupsd-{self.name}",
            [cupsd, "-f", "-c", str(conf / "cupsd.conf"), "-s", str(conf / "cups-files.conf")],
            self.log_dir,
            raw=True,
        )
        deadline = time.monotonic() + 15
        while not self._answers():
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"cupsd did not start; see {self.root}/logs/error_log and {self.service.log_path}"
                )
            time.sleep(0.1)

    def stop_daemon(self) -> None:
        """Stop cupsd only (as a printer service that dies): its folder, queues and spooled jobs stay."""
        if self.service is not None:
            self.service.stop()
            self.service = None

    def lp(self, command: str, *args: str) -> None:
        """A CUPS command (cupsenable, cupsdisable, ...) on this server."""
        subprocess.run(  # noqa: S603  a fixed argv, no shell
            [command, "-h", self.socket, *args], check=True, capture_output=True
        )

    def _answers(self) -> bool:
        result = subprocess.run(  # noqa: S603  a fixed argv, no shell
            ["lpstat", "-h", self.socket, "-r"],  # noqa: S607  a Debian program on PATH
            capture_output=True,
            text=True,
            check=False,
        )
        return "is running" in result.stdout

    def _lpadmin(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603  a fixed argv, no shell
            ["lpadmin", "-h", self.socket, *args],  # noqa: S607  a Debian program on PATH
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"lpadmin {' '.join(args[:2])} failed: {result.stderr.strip()}")

    def _add_queues(self) -> None:
        n = self.name
        self.queues = {role: f"{n}-{role}" for role in ("pdf", "jam", "stuck", "offline", "rejecting")}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._pdf_conf = Path(f"/etc/cups/cups-pdf-{self.queues['pdf']}.conf")
        self._pdf_conf.parent.mkdir(parents=True, exist_ok=True)
        self._pdf_conf.write_text(f"Out {self.out_dir}\nAnonDirName {self.out_dir}\nLog {self.root}/logs\n")
        self._lpadmin(
            "-p", self.queues["pdf"], "-E", "-v", f"cups-pdf:/{self.queues['pdf']}", "-P", str(CUPS_PDF_PPD)
        )
        for role in ("jam", "stuck", "offline", "rejecting"):
            self._lpadmin(
                "-p",
                self.queues[role],
                "-E",
                "-v",
                f"konbini-test:/{role}",
                "-o",
                "printer-error-policy=abort-job",
            )
        self.lp("cupsreject", self.queues["offline"])

    def printed(self, title: str) -> list[Path]:
        """Files the PDF printer wrote for jobs titled ``title`` (a certificate's serial)."""
        return sorted(self.out_dir.glob(f"{title}*.pdf"))

    def stop(self) -> None:
        self.stop_daemon()
        if self._pdf_conf is not None:
            self._pdf_conf.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)
