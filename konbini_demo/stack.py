"""The whole system on one machine: registry_sim, the issuance server, a card CA, staff, a kiosk, cards.

Used by ``konbini-demo`` and by the end-to-end tests, so both exercise the same real processes.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

from devices.card.pcsc import reader_has_card
from konbini_demo.authenticator import Authenticator
from konbini_demo.processes import Service, ServiceError, free_port, port_in_use, run
from registry_sim.generator import DEMO_ATENA_NO
from registry_sim.tls_files import link_context
from wire.card_identity import SEX_CODES, CardIdentity
from wire.http_json import JsonClient

STAFF_ID = "demo-clerk"
STAFF_PASSWORD = "demo-clerk-password-0001"  # synthetic, for the demo's throwaway data folder only  # noqa: S105  a name or label, not a secret
SECOND_ADMIN, SECOND_ADMIN_PASSWORD = "demo-admin-2", "demo-admin-2-password-01"  # synthetic, likewise
KIOSK_ID = "kiosk-001"
VPCD_READERS = {35963: "Virtual PCD 00 00", 35964: "Virtual PCD 00 01"}


def empty_database(url: str) -> None:
    """A PostgreSQL database given to the demo emptied: the server's tables and replica generations."""
    import psycopg  # only for a stack on PostgreSQL

    with psycopg.connect(url, autocommit=True) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = 'public' OR nspname LIKE 'replica\\_%'"
        ).fetchall()
        for (schema,) in schemas:
            conn.execute(psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema)))
        conn.execute("CREATE SCHEMA public")


class Stack:
    def __init__(
        self,
        root: Path,
        residents: int = 2000,
        seed: int = 42,
        registry_port: int | None = None,
        server_port: int | None = None,
        vpcd_port: int = 35963,
        server_settings: dict[str, str] | None = None,
        reader: str | None = None,
    ) -> None:
        """``vpcd_port``: the reader's vpcd port; ``reader``: its name, when it is not one of vpcd's own two
        (the tests lease readers of a pool: tests/pool.py)."""
        self.root = root
        self.residents = residents
        self.seed = seed
        self.registry_port = registry_port or free_port()
        self.server_port = server_port or free_port()
        self.vpcd_port = vpcd_port
        self.reader = reader or VPCD_READERS[vpcd_port]
        self.logs = root / "logs"
        self.server_dir = root / "server"
        self.ca_dir = root / "card-ca"
        self.phone_ca_dir = root / "phone-ca"  # the smartphone CA (スマホ用電子証明書), J-LIS's stand-in too
        self.registry_db = root / "registry" / "registry.sqlite3"
        self.kiosk_credentials = root / "kiosks" / f"{KIOSK_ID}.json"
        self.services: dict[str, Service] = {}
        self.server_settings = server_settings or {}
        self._authenticator: Authenticator | None = None
        self._second_device: Authenticator | None = None

    @property
    def database_url(self) -> str:
        """The server's PostgreSQL database (``KONBINI_DATABASE_URL`` in its settings or this process's
        environment), or empty: SQLite in its data folder."""
        return self.server_settings.get("KONBINI_DATABASE_URL") or os.environ.get("KONBINI_DATABASE_URL", "")

    def database_env(self) -> dict[str, str]:
        """What the server's command-line tools need to reach its database."""
        return {"KONBINI_DATABASE_URL": self.database_url} if self.database_url else {}

    @property
    def plain_http(self) -> bool:
        """The server runs behind a TLS proxy (``KONBINI_PLAIN_HTTP``), plain HTTP on loopback."""
        return self.server_settings.get("KONBINI_PLAIN_HTTP", "").lower() in ("1", "true", "yes", "on")

    @property
    def server_url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://127.0.0.1:{self.server_port}"

    @property
    def registry_url(self) -> str:
        return f"https://127.0.0.1:{self.registry_port}"

    @property
    def registry_tls(self) -> Path:
        """registry_sim's CA, certificate and the link's client certificate (made at its first start)."""
        return self.registry_db.parent / "tls"

    @property
    def server_ca(self) -> Path:
        """The CA of the server's certificate (the server makes it at its first start)."""
        return self.server_dir / "tls" / "city-ca.crt"

    def server_client(self, headers: dict[str, str] | None = None, timeout_s: float = 30) -> JsonClient:
        """A client of the server's HTTPS API (staff, ops, public routes) trusting the city's server CA."""
        return JsonClient(
            self.server_url, headers or {}, timeout_s, ssl.create_default_context(cafile=str(self.server_ca))
        )

    @property
    def public_key(self) -> Path:
        return self.server_dir / "keys" / "issuing-ed25519.pub"

    def server_env(self) -> dict[str, str]:
        return {
            "KONBINI_DATA_DIR": str(self.server_dir),
            "KONBINI_PORT": str(self.server_port),
            "KONBINI_REGISTRY_URL": self.registry_url,
            "KONBINI_REGISTRY_CA_CERT": str(self.registry_tls / "registry-ca.crt"),
            "KONBINI_REGISTRY_CLIENT_CERT": str(self.registry_tls / "link-client.crt"),
            "KONBINI_REGISTRY_CLIENT_KEY": str(self.registry_tls / "link-client.key"),
            "KONBINI_CARD_CA_CERT": str(self.ca_dir / "ca.crt"),
            "KONBINI_PHONE_CA_CERT": str(self.phone_ca_dir / "ca.crt"),
            # The demo and the tests must not depend on the hour they run at: kiosks open all day here.
            "KONBINI_SERVICE_HOURS": "00:00-24:00",
            "KONBINI_CLOSED_DAYS": "",
            "KONBINI_CARD_CRL_REFRESH_S": "1",  # a card revoked in a test or demo counts within a second
            # The stack's one kiosk identity stands for many store terminals in tests and benches.
            "KONBINI_KIOSK_MAX_OPEN_SESSIONS": "64",
            "KONBINI_KIOSK_SESSION_OPENS_PER_MINUTE": "100000",
            **self.server_settings,
        }

    @property
    def staff_seed(self) -> Path:
        """The demo clerk's TOTP seed, as their authenticator app holds it (the stack computes codes)."""
        return self.root / "demo-clerk.totp"

    @property
    def staff_session_file(self) -> Path:
        return self.root / "demo-clerk.session"

    def authenticator(self) -> Authenticator:
        if self._authenticator is None:
            self._authenticator = Authenticator.load(self.staff_seed)
        return self._authenticator

    def staff_token(self) -> str:
        """The demo clerk's session token (kept in a file the CLI tools share): checked, renewed when the
        server ended it (idle time, a restore), with a fresh TOTP code."""
        client = self.server_client()
        if self.staff_session_file.exists():
            token = self.staff_session_file.read_text().strip()
            client.headers["Authorization"] = f"Bearer {token}"
            status, _, _ = client.request("GET", "/clerk/api/me")
            if status == 200:
                return token
        client.headers.pop("Authorization", None)
        body = {"staff_id": STAFF_ID, "password": STAFF_PASSWORD, "totp_code": self.authenticator().code()}
        token = str(client.call("POST", "/clerk/api/login", {**body, "terminal": "demo-stack"})["token"])
        self.staff_session_file.unlink(missing_ok=True)
        self.staff_session_file.write_text(token)
        self.staff_session_file.chmod(0o600)
        return token

    def second_admin(self) -> tuple[str, str, Authenticator]:
        """A second administrator, made as a city makes one while only one exists: ``konbini-clerk
        bootstrap`` on the server machine, its TOTP enrolled with the command-line tool (once); its id,
        password and authenticator."""
        seed = self.root / "second-admin.totp"
        if not seed.exists():
            run(
                ["registration.cli", "--staff-id", SECOND_ADMIN, "bootstrap", "--data-dir", str(self.server_dir),
                 "--roles", "admin", "--name", "第二管理者"],
                env={**self.database_env(), "KONBINI_STAFF_PASSWORD": SECOND_ADMIN_PASSWORD},
            )  # fmt: skip
            env = self._second_admin_env()
            device = Authenticator.from_enrolment(run(["registration.cli", "totp-enrol"], env=env).stdout)
            run(["registration.cli", "totp-confirm"], env={**env, "KONBINI_TOTP_CODE": device.code()})
            device.save(seed)
            self._second_device = device
        if self._second_device is None:
            self._second_device = Authenticator.load(seed)
        return SECOND_ADMIN, SECOND_ADMIN_PASSWORD, self._second_device  # one device: no code used twice

    def _second_admin_env(self) -> dict[str, str]:
        return {
            **self.database_env(),
            "KONBINI_STAFF_ID": SECOND_ADMIN,
            "KONBINI_STAFF_PASSWORD": SECOND_ADMIN_PASSWORD,
            "KONBINI_SERVER": self.server_url,
            "KONBINI_SERVER_CA": str(self.server_ca),
            "KONBINI_STAFF_SESSION": str(self.root / "second-admin.session"),
        }

    def second_admin_env(self) -> dict[str, str]:
        """The command-line tools' environment as the second administrator (a fresh code for a login)."""
        _, _, device = self.second_admin()
        return {**self._second_admin_env(), "KONBINI_TOTP_CODE": device.code()}

    def clerk_env(self, pin: str | None = None) -> dict[str, str]:
        """The CLI tools' environment as the demo clerk (their kept session, renewed when needed)."""
        env = {
            **self.database_env(),
            "KONBINI_STAFF_PASSWORD": STAFF_PASSWORD,
            "KONBINI_STAFF_ID": STAFF_ID,
            "KONBINI_SERVER": self.server_url,
            "KONBINI_SERVER_CA": str(self.server_ca),
            "KONBINI_STAFF_SESSION": str(self.staff_session_file),
        }
        if self.staff_seed.exists():
            self.staff_token()
        return {**env, "KONBINI_PIN": pin, "KONBINI_IDENTITY_PIN": pin} if pin else env

    def ops(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        as_staff = "--staff-id" in args  # the demo clerk acting as themselves: their kept session
        return run(
            ["recovery.cli", "--data-dir", str(self.server_dir), "--server", self.server_url, *args],
            env=self.clerk_env() if as_staff else self.database_env(),
            check=check,
        )

    def start_registry(self) -> None:
        if not self.registry_db.exists():
            run(
                [
                    "registry_sim",
                    "seed",
                    "--residents",
                    str(self.residents),
                    "--seed",
                    str(self.seed),
                    "--db",
                    str(self.registry_db),
                ]
            )
        for port in (self.registry_port, self.server_port):
            if port_in_use(port):
                raise ServiceError(f"port {port} is in use; stop what runs there or choose another port")
        svc = Service(
            "registry_sim",
            ["registry_sim", "serve", *self._registry_args()],
            self.logs,
        )
        self.services["registry_sim"] = svc
        svc.wait_log("registry_sim listening on")

    def _registry_args(self) -> list[str]:
        crl, phone_crl = self.ca_dir / "crl.der", self.phone_ca_dir / "crl.der"
        return [
            "--db", str(self.registry_db), "--port", str(self.registry_port), "--card-crl", str(crl),
            "--phone-crl", str(phone_crl),
        ]  # fmt: skip

    def registry(self) -> JsonClient:
        """registry_sim's control and data API (faults, apply, generate, gap, reset)."""
        return JsonClient(self.registry_url, {}, timeout_s=30, ssl_context=link_context(self.registry_tls))

    def kill(self, name: str) -> None:
        """SIGKILL a service (registry_sim or server), as a crash would."""
        self.services.pop(name).kill()

    def restart_registry(self) -> None:
        svc = Service("registry_sim", ["registry_sim", "serve", *self._registry_args()], self.logs)
        self.services["registry_sim"] = svc
        svc.wait_log("registry_sim listening on")

    def ops_status(self) -> dict[str, Any]:
        """``konbini-ops status`` over HTTP (a subprocess a call is too slow to poll with)."""
        return self.ops_call("GET", "/ops/api/status")

    def ops_call(self, method: str, path: str, body: Any = None) -> Any:
        """The ops API with the ops token, as ``konbini-ops`` calls it, without starting a process."""
        token = (self.server_dir / "secrets" / "ops-token").read_text().strip()
        return self.server_client({"Authorization": f"Bearer {token}"}).call(method, path, body)

    def start_server(self) -> None:
        svc = Service("server", ["issuance_server"], self.logs, env=self.server_env())
        self.services["server"] = svc
        svc.wait_log("konbini-server listening on")

    def start(self) -> None:
        """Everything up to a kiosk ready to serve: registry, CA, server, synced replica, staff, kiosk."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.start_registry()
        run(["devices.card.cli", "init-ca", "--dir", str(self.ca_dir)])
        run(["devices.card.cli", "init-ca", "--phone", "--dir", str(self.phone_ca_dir)])
        if self.database_url:  # PostgreSQL is migrated before the server starts (SQLite: at its start)
            self.ops("migrate")
        self.start_server()
        self.ops("sync", "--full")
        self.enrol()

    def enrol(self) -> None:
        """The demo clerk (bootstrapped and TOTP-enrolled once) and the stack's kiosk, on a running server."""
        if not self.staff_seed.exists():
            run(
                ["registration.cli", "--staff-id", STAFF_ID, "bootstrap", "--data-dir", str(self.server_dir)],
                env=self.clerk_env(),
            )
            enrolled = run(["registration.cli", "totp-enrol"], env=self.clerk_env())
            device = Authenticator.from_enrolment(enrolled.stdout)
            run(
                ["registration.cli", "totp-confirm"],
                env={**self.clerk_env(), "KONBINI_TOTP_CODE": device.code()},
            )
            device.save(self.staff_seed)
            self._authenticator = device
        self.ops("kiosk-add", KIOSK_ID, "--location", "demo store", "--out", str(self.kiosk_credentials))

    def start_kiosk_app(self, port: int, *settings: str, env: dict[str, str] | None = None) -> str:
        """The kiosk app (``konbini-kiosk serve``) on this stack's reader, in demo mode; returns its URL.
        ``settings``: more ``serve`` flags (``--printer``, ``--cups-server``, ...). Each start has a data
        folder (journal, payment device) of its own unless ``--data-dir`` is given (a restart of the same
        terminal). ``env``: more environment (``PCSCLITE_CSOCK_NAME`` for a pcscd of its own)."""
        self.stop_kiosk_app()
        own = (
            [] if "--data-dir" in settings else ["--data-dir", str(self.root / "kiosk-data" / f"app-{port}")]
        )
        svc = Service(
            "kiosk_app",
            [
                "kiosk", "serve", "--credentials", str(self.kiosk_credentials), "--reader", self.reader,
                "--port", str(port), "--demo", *own, *settings,
            ],
            self.logs,
            env=env,
        )  # fmt: skip
        self.services["kiosk_app"] = svc
        url = f"http://127.0.0.1:{port}"
        svc.wait_http(f"{url}/api/state")
        return url

    def start_desk(self, *flags: str) -> tuple[str, str]:
        """The desk app (``konbini-desk serve``) on this stack's reader: the clerk's and the customer
        display's URLs. ``flags``: more ``serve`` flags (``--idle-lock``, ...)."""
        port, customer = free_port(), free_port()
        svc = Service(
            f"desk-{port}",
            ["registration.desk.cli", "serve", "--server", self.server_url, "--server-ca", str(self.server_ca),
             "--issuing-key", str(self.public_key), "--port", str(port), "--customer-port", str(customer), "--reader", self.reader, *flags],
            self.logs,
        )  # fmt: skip
        self.services[f"desk-{port}"] = svc
        svc.wait_log("konbini-desk ready on")
        return f"http://127.0.0.1:{port}", f"http://127.0.0.1:{customer}"

    def stop_kiosk_app(self) -> None:
        svc = self.services.pop("kiosk_app", None)
        if svc is not None:
            svc.stop()

    def personalise_card(self, name: str, pin: str, *extra: str, holder: str | None = DEMO_ATENA_NO) -> Path:
        """A new card file; issued to ``holder`` (its identity application holds the resident's record, its
        PIN ``pin`` as the card's), or with no identity application (``None``: a card of nobody here)."""
        out = self.root / "cards" / f"{name}.json"
        n = 1
        while out.exists():  # a card file is a card: a new card gets a new file
            n += 1
            out = self.root / "cards" / f"{name}-{n}.json"
        run(
            [
                "devices.card.cli",
                "personalise",
                "--pin",
                pin,
                "--out",
                str(out),
                "--ca-dir",
                str(self.ca_dir),
                *(self._identity_args(holder) if holder is not None else []),
                *extra,
            ]
        )
        return out

    def personalise_phone(self, name: str, form: str, pin: str) -> Path:
        """A new virtual phone of ``form`` (android, iphone) from the smartphone CA; ``pin``: its own PIN (an
        Android phone's JPKI PIN; an iPhone has none at the terminal)."""
        out = self.root / "cards" / f"{name}.json"
        n = 1
        while out.exists():
            n += 1
            out = self.root / "cards" / f"{name}-{n}.json"
        run(["devices.card.cli", "personalise", "--form", form, "--pin", pin, "--out", str(out),
             "--ca-dir", str(self.phone_ca_dir)])  # fmt: skip
        return out

    def resident_identity(self, atena_no: str) -> CardIdentity:
        """What a card issued to the resident holds: their record (as the card issuer has it), read through
        the desk's API as the demo clerk."""
        client = self.server_client({"Authorization": f"Bearer {self.staff_token()}"})
        [person] = client.call("GET", f"/clerk/api/residents?atena_no={atena_no}")["residents"]
        sex = SEX_CODES.get(person["sex"], "3")
        return CardIdentity(person["name"], person["address"], person["birth_date"], sex)

    def _identity_args(self, atena_no: str) -> list[str]:
        """``konbini-card personalise`` options for the resident's identity: the file the card issuer takes
        from the registry (``konbini-registry card-identity``)."""
        out = self.root / "cards" / f"identity-{atena_no}.json"
        run(["registry_sim", "card-identity", atena_no, "--db", str(self.registry_db), "--out", str(out)])
        return ["--identity", str(out)]

    def insert_card(self, card_file: Path) -> Service:
        """Run the virtual card in the vpcd reader (what a resident inserting a card does)."""
        self.remove_card()
        svc = Service(
            "card", ["devices.card.cli", "run", str(card_file), "--port", str(self.vpcd_port)], self.logs
        )
        self.services["card"] = svc
        svc.wait_log("inserted")
        return svc

    def remove_card(self) -> None:
        svc = self.services.pop("card", None)
        if svc is not None:
            svc.stop()
            deadline = time.monotonic() + 10  # pcscd polls vpcd every ~0.4 s (longer on a loaded machine)
            while reader_has_card(self.reader) and time.monotonic() < deadline:
                time.sleep(0.05)

    def register(self, atena_no: str, pin: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            ["registration.cli", "register", "--atena-no", atena_no, "--reader", self.reader],
            env=self.clerk_env(pin),
            check=check,
        )

    def clerk(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["registration.cli", *args], env=self.clerk_env(), check=check)

    def kiosk_session(
        self, pin: str, out_dir: Path, *extra: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [
                "kiosk",
                "session",
                "--credentials",
                str(self.kiosk_credentials),
                "--reader",
                self.reader,
                "--out",
                str(out_dir),
                *extra,
            ],
            env={"KONBINI_PIN": pin},
            check=check,
        )

    @staticmethod
    def printed(result: subprocess.CompletedProcess[str]) -> list[tuple[str, Path]]:
        return [
            (m[0], Path(m[1])) for m in re.findall(r"printed serial=(\S+) certificate=(\S+)", result.stdout)
        ]

    def verify(self, target: str | Path) -> subprocess.CompletedProcess[str]:
        return run(
            [
                "issuance_server.certificates.verify_cli",
                str(target),
                "--key",
                str(self.public_key),
                "--trust",
                str(self.server_dir / "keys" / "city-issuing.crt"),
                "--server",
                self.server_url,
                "--server-ca",
                str(self.server_ca),
            ],
            check=False,
        )

    @staticmethod
    def pdf_text(path: Path) -> str:
        return subprocess.run(  # noqa: S603  a fixed argv, no shell
            ["pdftotext", str(path), "-"],  # noqa: S607  a Debian program on PATH
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def stop(self) -> None:
        for name in list(reversed(self.services)):
            self.services.pop(name).stop()

    def wipe(self) -> None:
        """Stop everything and start again from nothing: the folder, and the PostgreSQL database given."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.database_url:
            empty_database(self.database_url)
