"""The one settings object: each setting declared once, with its default and help text.

Load order: embedded defaults, then a TOML file (``KONBINI_CONFIG`` or ``--config``), then environment
variables ``KONBINI_<NAME>`` (upper case). Defaults run everything embedded: files under ``./var/``,
services on localhost.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wire.serving import is_any_address
from wire.tls import is_loopback

_KINDS = ("juminhyo", "inkan", "tax_income", "tax_status", "tax_income_assessment", "tax_payment")


def _s(default: Any, help_text: str) -> Any:
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help_text, "default": default})
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _s(Path("var"), "folder for the database, secrets (mode 0600) and keys")
    host: str = _s("127.0.0.1", "address the issuance server listens on")
    port: int = _s(8470, "port the issuance server listens on")
    plain_http: bool = _s(
        False,
        "serve plain HTTP instead of HTTPS: only on a loopback host, behind a TLS proxy that verifies kiosks'"
        " client certificates and forwards them (X-Client-Cert) with secrets/proxy-secret",
    )
    tls_names: str = _s(
        "",
        "more DNS names or addresses (comma-separated) the server's TLS certificate is made for at first"
        " start; localhost, 127.0.0.1 and host are always in it",
    )
    kiosk_cert_days: int = _s(
        397, "life of a kiosk's client certificate issued by konbini-ops kiosk-add, days"
    )
    registry_url: str = _s(
        "https://127.0.0.1:8471",
        "base URL of the main registry (registry_sim in dev); http:// only for a loopback host",
    )
    registry_ca_cert: Path = _s(
        Path("var/registry/tls/registry-ca.crt"),
        "CA that signed the registry's TLS certificate (registry_sim writes it at first start)",
    )
    registry_client_cert: Path = _s(
        Path("var/registry/tls/link-client.crt"),
        "this server's client certificate for the registry link (registry_sim issues it at first start)",
    )
    registry_client_key: Path = _s(Path("var/registry/tls/link-client.key"), "its private key (0600)")
    registry_timeout_s: float = _s(1.0, "timeout for one registry request (feed, versions, health), seconds")
    snapshot_timeout_s: float = _s(30.0, "timeout between two reads of a snapshot stream, seconds")
    registry_link: bool = _s(True, "follow the registry's change feed and probe versions before issuing")
    feed_poll_s: float = _s(0.2, "pause between change-feed polls when the replica is current, seconds")
    feed_batch: int = _s(10000, "changes asked for in one feed request (one transaction each)")
    db_readers: int = _s(
        2, "read-only database connections beside the one writer (reads never wait for writes)"
    )
    breaker_failures: int = _s(3, "consecutive registry failures that switch the server to recovery")
    breaker_cooldown_s: float = _s(
        2.0, "first wait before probing a failed registry (doubles while it flaps)"
    )
    breaker_stable_s: float = _s(60.0, "the registry must stay up this long before the cool-down resets")
    recovery_max_replica_age_s: int = _s(
        86400, "in recovery, kiosks refuse once the replica is older than this"
    )
    card_ca_cert: Path = _s(Path("var/card-ca/ca.crt"), "PEM certificate of the trusted card CA")
    card_crl_url: str = _s(
        "",
        "where the card CA's CRL is fetched; empty: <registry_url>/crl/card-ca.crl when the registry link is"
        " on; 'off': no revocation check (tests only)",
    )
    card_crl_refresh_s: float = _s(300.0, "how often the card CRL is fetched again, seconds")
    card_crl_max_stale_s: int = _s(
        86400,
        "a CRL past its nextUpdate is still used this long (the publisher may be down); after that kiosk"
        " authentication is refused (card_revocation_unknown) until a fresh CRL arrives",
    )
    municipality_code: str = _s("462012", "全国地方公共団体コード of the city (Kagoshima City)")
    municipality_name: str = _s("鹿児島市", "name of the city printed on certificates")
    mayor_name: str = _s(
        "鹿児島県鹿児島市長　桜島　太郎",
        "mayor's title (with the prefecture, as the national standard asks) and (synthetic) name printed on"
        " certificates",
    )
    nonce_ttl_s: int = _s(120, "life of a kiosk session nonce, seconds")
    session_idle_s: int = _s(300, "a kiosk session ends after this many idle seconds")
    kiosk_max_open_sessions: int = _s(
        4, "open sessions one kiosk may hold at once (beyond: 429 too_many_sessions)"
    )
    kiosk_session_opens_per_minute: int = _s(
        30, "sessions one kiosk may open a minute (beyond: 429 session_rate_limited)"
    )
    max_body_bytes: int = _s(64 * 1024, "largest request body the kiosk API accepts")
    max_connections: int = _s(1000, "open connections at most; more are closed before TLS starts")
    max_connections_per_source: int = _s(
        200, "open connections from one address at most (off with plain_http: the proxy limits sources)"
    )
    tls_handshake_timeout_s: float = _s(
        10.0, "a connection that has not finished its TLS handshake by then is closed"
    )
    body_timeout_s: float = _s(10.0, "a request body must arrive whole within this many seconds (else 408)")
    header_timeout_s: float = _s(
        15.0, "a connection that sends no complete request for this long (idle keep-alive included) is closed"
    )
    pin_max_failures: int = _s(3, "consecutive PIN failures that lock a registration")
    staff_max_failures: int = _s(5, "failed staff logins in a row that lock the account for staff_lockout_s")
    ops_token_days: int = _s(90, "how long a named ops token works (token-add --days may ask for less)")
    staff_source_max_failures: int = _s(
        4, "failed staff logins from one address in staff_source_window_s after which the address waits"
    )
    staff_source_window_s: int = _s(900, "the window of staff_source_max_failures, seconds")
    staff_lockout_s: int = _s(
        900, "how long a locked staff account stays locked (konbini-ops staff-unlock lifts it sooner)"
    )
    staff_session_max_s: int = _s(
        12 * 3600,
        "a staff session ends this many seconds after its login, however active (then log in again)",
    )
    argon2_time_cost: int = _s(2, "argon2id iterations (OWASP minimum: 2 with 19 MiB)")
    argon2_memory_kib: int = _s(19 * 1024, "argon2id memory, KiB (OWASP minimum: 19456)")
    argon2_parallelism: int = _s(1, "argon2id lanes")
    kiosk_fees_yen: dict = _s(
        {k: 200 for k in _KINDS},
        "kiosk fee per certificate kind, yen (TOML table or JSON in the environment)",
    )
    counter_fees_yen: dict = _s({k: 300 for k in _KINDS}, "counter fee per certificate kind, yen")
    kiosk_allow_kojin_bango: bool = _s(False, "may residents ask for 個人番号 on a 住民票の写し at a kiosk")
    juminhyo_layout: str = _s("setai", "住民票の写し layout: 'setai' (世帯連記式) or 'kojin' (個人票)")
    tax_year_opens: str = _s(
        "06-10",
        "the day (MM-DD, 04-01 to 12-31) from which a new fiscal year's tax certificates are issued; before"
        " it, asking for that year is refused naming the day. Kagoshima City: 6月10日 for kiosks (its Q&A page"
        " on the 令和3年度 opening; 'mid-June' since), Kitakyushu City: 06-04",
    )
    service_hours: str = _s("06:30-23:00", "kiosk service hours, Japan time, HH:MM-HH:MM")
    closed_days: str = _s("12-29,12-30,12-31,01-01,01-02,01-03", "days (MM-DD) kiosks are closed every year")
    maintenance_windows: str = _s(
        "", "planned maintenance, Japan time: 'YYYY-MM-DDTHH:MM/YYYY-MM-DDTHH:MM' separated by commas"
    )
    public_base_url: str = _s(
        "",
        "the city's public HTTPS site (a publicly trusted certificate): printed QR codes link to"
        " <url>/verify/<record> so a phone camera opens the check page; empty: the QR holds the bare record",
    )
    backup_at: str = _s(
        "03:00", "the daily backup's time, Japan time, HH:MM (konbini-ops backup takes one now)"
    )
    backups_kept: int = _s(7, "backups kept in <data_dir>/backups; older ones are removed")
    retention_days: int = _s(
        1827,
        "days issuance records and the personal field of audit rows are kept; a purge (requested, then"
        " approved by another administrator) may erase only what is older",
    )
    office_hours: str = _s(
        "08:30-17:15",
        "the city hall's office hours (JST); staff activity outside them is shown in the monthly review",
    )
    office_days: str = _s("mon,tue,wed,thu,fri", "the city hall's office days, for the monthly review")
    review_failed_logins_per_day: int = _s(
        3, "monthly review: failed logins of one staff member in a day from which it is an anomaly"
    )
    review_searches_per_day: int = _s(
        100, "monthly review: resident searches of one staff member in a day from which it is an anomaly"
    )
    review_mynumber_views_per_day: int = _s(
        20, "monthly review: 個人番号 views of one staff member in a day from which it is an anomaly"
    )
    review_voids_per_day: int = _s(
        10, "monthly review: voided certificates in a day from which it is an anomaly"
    )
    audit_checkpoint_s: float = _s(
        60.0, "how often a signed checkpoint of the audit chain's head is appended to audit/checkpoints.log"
    )
    pades_for_kiosk: bool = _s(
        False, "also sign kiosk print jobs with PAdES (counter/digital copies always are)"
    )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "konbini.sqlite3"

    @property
    def crl_source(self) -> str | None:
        """The CRL's URL, or None when revocation is not checked."""
        if self.card_crl_url == "off":
            return None
        if self.card_crl_url:
            return self.card_crl_url
        return f"{self.registry_url.rstrip('/')}/crl/card-ca.crl" if self.registry_link else None

    @property
    def tls_dir(self) -> Path:
        """The server's CAs (city, kiosk), its certificate and their keys (0600, folder 0700)."""
        return self.data_dir / "tls"

    @property
    def server_url(self) -> str:
        """How the command-line tools on this machine reach the server."""
        host = "127.0.0.1" if is_any_address(self.host) else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'http' if self.plain_http else 'https'}://{host}:{self.port}"

    @property
    def audit_checkpoints_path(self) -> Path:
        return self.data_dir / "audit" / "checkpoints.log"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"


def _coerce(value: Any, typ: type) -> Any:
    if typ is dict or typ == "dict":
        return dict(json.loads(value)) if isinstance(value, str) else dict(value)
    if typ is bool or typ == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a yes/no value: {value!r}")
    if typ is Path or typ == "Path":
        return Path(value)
    if typ is int or typ == "int":
        return int(value)
    if typ is float or typ == "float":
        return float(value)
    return str(value)


class SettingsError(ValueError):
    """A setting the server cannot run with: the message names it, where it came from and what is allowed."""


def load_settings(
    config_file: Path | None = None, env: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults, then the TOML file, then ``KONBINI_*`` environment variables, then keyword overrides;
    every value checked here, so a process refuses a bad one at start (:class:`SettingsError`)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    path = config_file or (Path(env["KONBINI_CONFIG"]) if env.get("KONBINI_CONFIG") else None)
    if path is not None:
        try:
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh))
        except FileNotFoundError:
            raise SettingsError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path}: {exc}") from None
        source.update({name: f"{path}" for name in values})
    known = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise SettingsError(
            f"unknown setting(s) in {path}: {', '.join(sorted(unknown))} (konbini-server --help-settings lists them)"
        )
    for name in known:
        key = f"KONBINI_{name.upper()}"
        if key in env:
            values[name], source[name] = env[key], f"environment variable {key}"
    for name, value in overrides.items():
        if value is not None:
            values[name], source[name] = value, "the command line"
    typed: dict[str, Any] = {}
    for name, value in values.items():
        try:
            typed[name] = _coerce(value, known[name].type)  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            raise SettingsError(
                f"{name} = {value!r} (from {source[name]}): expected {known[name].type} ({exc})"
            ) from None
    settings = Settings(**typed)
    for name, problem in _problems(settings):
        where = source.get(name, "the embedded default")
        raise SettingsError(f"{name} = {getattr(settings, name)!r} (from {where}): {problem}")
    return settings


def settings_or_exit(prog: str, config_file: Path | None = None, **overrides: Any) -> Settings:
    """For a command's ``main``: the settings, or one line naming what is wrong and exit status 2."""
    try:
        return load_settings(config_file, **overrides)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _problems(s: Settings) -> list[tuple[str, str]]:
    """(setting, what is allowed) for each value the server cannot run with."""
    from issuance_server.service_hours import (  # the one parser of hours and days
        ServiceCalendar,
        parse_office_days,
        parse_office_hours,
    )

    found: list[tuple[str, str]] = []
    url = s.public_base_url
    if url and (not url.startswith(("https://", "http://")) or "?" in url or "#" in url):
        found.append(("public_base_url", "a site address such as https://city.example.jp"))
    if not 1 <= s.port <= 65535:
        found.append(("port", "a port number, 1-65535"))
    for name in ("kiosk_fees_yen", "counter_fees_yen"):
        table = getattr(s, name)
        missing, extra = set(_KINDS) - set(table), set(table) - set(_KINDS)
        bad = [k for k, v in table.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
        if missing or extra or bad:
            found.append(
                (name, f"a whole, non-negative fee in yen for each of {', '.join(_KINDS)} and nothing else"
                 + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                 + (f"; unknown {', '.join(sorted(extra))}" if extra else "")
                 + (f"; not a fee: {', '.join(sorted(bad))}" if bad else ""))
            )  # fmt: skip
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", s.backup_at):
        found.append(("backup_at", "a time of day, HH:MM"))

    for name, parse in (("office_hours", parse_office_hours), ("office_days", parse_office_days)):
        try:
            parse(getattr(s, name))
        except ValueError as exc:
            found.append((name, str(exc)))
    from issuance_server.issuing.eligibility import month_day

    try:
        month_day(s.tax_year_opens)
    except ValueError as exc:
        found.append(("tax_year_opens", str(exc)))
    if s.juminhyo_layout not in ("setai", "kojin"):
        found.append(("juminhyo_layout", "'setai' (世帯連記式) or 'kojin' (個人票)"))
    try:
        ServiceCalendar.parse(s.service_hours, s.closed_days, "")
    except ValueError as exc:
        found.append(("closed_days" if "closed_days" in str(exc) else "service_hours", str(exc)))
    try:
        ServiceCalendar.parse("00:00-24:00", "", s.maintenance_windows)
    except ValueError as exc:
        found.append(("maintenance_windows", str(exc)))
    positive = [
        f.name
        for f in dataclasses.fields(Settings)
        if f.name.endswith("_s") and f.name != "card_crl_max_stale_s"
    ]
    positive += ["max_body_bytes", "pin_max_failures", "staff_max_failures", "feed_batch", "breaker_failures", "argon2_time_cost",
                 "argon2_memory_kib", "argon2_parallelism", "kiosk_max_open_sessions",
                 "kiosk_session_opens_per_minute", "kiosk_cert_days", "backups_kept", "nonce_ttl_s", "session_idle_s", "retention_days",
                 "review_failed_logins_per_day", "review_searches_per_day", "review_mynumber_views_per_day",
                 "review_voids_per_day", "ops_token_days", "staff_source_max_failures", "max_connections",
                 "max_connections_per_source"]  # fmt: skip
    found += [(name, "a number above 0") for name in dict.fromkeys(positive) if getattr(s, name) <= 0]
    if s.staff_source_max_failures >= s.staff_max_failures:
        found.append(("staff_source_max_failures", f"below staff_max_failures ({s.staff_max_failures}), so that"
                      " one address cannot lock an account"))  # fmt: skip
    if s.card_crl_max_stale_s < 0:
        found.append(("card_crl_max_stale_s", "0 or more seconds"))
    if not 1 <= s.db_readers <= 16:
        found.append(("db_readers", "1 to 16 connections"))
    found += _transport_problems(s)
    return found


def _transport_problems(s: Settings) -> list[tuple[str, str]]:
    """Plain HTTP on a network port only where a setting asks for it, and only on loopback."""
    found = []
    if s.plain_http and not is_loopback(s.host):
        found.append(("plain_http", f"only on a loopback host, not with host {s.host!r}"))
    url = urllib.parse.urlsplit(s.registry_url)
    if url.scheme not in ("https", "http") or not url.hostname:
        found.append(("registry_url", "an https:// address"))
    elif url.scheme == "http" and not is_loopback(url.hostname):
        found.append(("registry_url", f"https:// for a host that is not loopback ({url.hostname})"))
    return found


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for ``--help-settings`` and the README."""
    return [
        (f.name, f.metadata.get("default", f.default), f.metadata["help"])
        for f in dataclasses.fields(Settings)
    ]
