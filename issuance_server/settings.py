"""The server's settings, each declared once with its default, help text and check (:mod:`wire.settings`).

Load order: embedded defaults, then a TOML file (``KONBINI_CONFIG`` or ``--config``), then environment
variables ``KONBINI_<NAME>`` (upper case). Defaults run everything embedded: files under ``./var/``,
services on localhost.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wire.credentials import DEMO_POLICY_OIDS, Form, PinPolicy
from wire.kiosk_api import KIOSK_KEEPALIVE_S, CertificateKind
from wire.serving import is_any_address
from wire.settings import SettingsError, SettingsLoader, above_zero, port_number, setting
from wire.tls import is_loopback

__all__ = ["Settings", "SettingsError", "describe", "load_settings", "settings_or_exit"]

_KINDS = tuple(kind.value for kind in CertificateKind)  # the one list of kinds


def _registry_address(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "an https:// address"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"https:// for a host that is not loopback ({parts.hostname})"
    return None


def _database_readers(count: int) -> str | None:
    return None if 1 <= count <= 16 else "1 to 16 connections"


def redacted_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _node_name(name: str) -> str | None:
    if len(name) > 64 or not all(c.isascii() and (c.isalnum() or c in ".-_:") for c in name):
        return "at most 64 letters, digits and . - _ :"
    return None


def _database_url(url: str) -> str | None:
    """Empty (SQLite in the data folder) or a PostgreSQL URL with a database name."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        return "empty (SQLite in data_dir) or postgresql://user@host:5432/database"
    if not parts.path.strip("/"):
        return "a URL that names the database (postgresql://user@host:5432/database)"
    return None


def _longer_than_kiosk_keepalive(seconds: float) -> str | None:
    if seconds > KIOSK_KEEPALIVE_S:
        return None
    return (
        f"more than {KIOSK_KEEPALIVE_S:g} s: kiosks keep an idle connection that long and must close it first"
    )


def _policy_oid(oid: str) -> str | None:
    parts = oid.split(".")
    arcs_ok = all(
        part.isascii() and part.isdigit() and (part == "0" or not part.startswith("0")) for part in parts
    )
    if len(parts) >= 2 and arcs_ok and parts[0] in ("0", "1", "2"):
        return None
    return "a dotted OID such as 1.2.392.200149.8.5.5.1"


def _pin_policy(value: str) -> str | None:
    return None if value in {p.value for p in PinPolicy} else "required or on_device"


def _not_negative_seconds(value: int) -> str | None:
    return None if value >= 0 else "0 or more seconds"


def _fee_table(table: dict[str, Any]) -> str | None:
    missing, extra = set(_KINDS) - set(table), set(table) - set(_KINDS)
    bad = [k for k, v in table.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
    if not (missing or extra or bad):
        return None
    return (f"a whole, non-negative fee in yen for each of {', '.join(_KINDS)} and nothing else"
            + (f"; missing {', '.join(sorted(missing))}" if missing else "")
            + (f"; unknown {', '.join(sorted(extra))}" if extra else "")
            + (f"; not a fee: {', '.join(sorted(bad))}" if bad else ""))  # fmt: skip


def _juminhyo_layout(layout: str) -> str | None:
    return None if layout in ("setai", "kojin") else "'setai' (世帯連記式) or 'kojin' (個人票)"


def _time_of_day(text: str) -> str | None:
    return None if re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", text) else "a time of day, HH:MM"


def _site_address(url: str) -> str | None:
    if url and (not url.startswith(("https://", "http://")) or "?" in url or "#" in url):
        return "a site address such as https://city.example.jp"
    return None


def _parse_problem(parse: Any, *args: str) -> str | None:
    """What ``parse(*args)`` says is wrong (its ValueError), or None."""
    try:
        parse(*args)
    except ValueError as exc:
        return str(exc)
    return None


# The one parser of hours and days (service_hours) and of month-days (eligibility), imported when checking.
def _office_hours(text: str) -> str | None:
    from issuance_server.service_hours import parse_office_hours

    return _parse_problem(parse_office_hours, text)


def _office_days(text: str) -> str | None:
    from issuance_server.service_hours import parse_office_days

    return _parse_problem(parse_office_days, text)


def _month_day(text: str) -> str | None:
    from issuance_server.issuing.eligibility import month_day

    return _parse_problem(month_day, text)


def _service_hours(text: str) -> str | None:
    from issuance_server.service_hours import ServiceCalendar

    return _parse_problem(ServiceCalendar.parse, text, "", "")


def _closed_days(text: str) -> str | None:
    from issuance_server.service_hours import ServiceCalendar

    return _parse_problem(ServiceCalendar.parse, "00:00-24:00", text, "")


def _maintenance_windows(text: str) -> str | None:
    from issuance_server.service_hours import ServiceCalendar

    return _parse_problem(ServiceCalendar.parse, "00:00-24:00", "", text)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(Path("var"), "folder for the database, secrets (mode 0600) and keys")
    host: str = setting("127.0.0.1", "address the issuance server listens on")
    port: int = setting(8470, "port the issuance server listens on", check=port_number)
    node_name: str = setting(
        "",
        "this node's name among the nodes on one database (konbini-ops status, the registry lease); empty:"
        " host:port",
        check=_node_name,
    )
    plain_http: bool = setting(
        False,
        "serve plain HTTP instead of HTTPS: only on a loopback host, behind a TLS proxy that verifies kiosks'"
        " client certificates and forwards them (X-Client-Cert) with secrets/proxy-secret",
    )
    tls_names: str = setting(
        "",
        "more DNS names or addresses (comma-separated) the server's TLS certificate is made for at first"
        " start; localhost, 127.0.0.1 and host are always in it",
    )
    kiosk_cert_days: int = setting(
        397, "life of a kiosk's client certificate issued by konbini-ops kiosk-add, days", check=above_zero
    )
    registry_url: str = setting(
        "https://127.0.0.1:8471",
        "base URL of the main registry (registry_sim in dev); http:// only for a loopback host",
        check=_registry_address,
    )
    registry_ca_cert: Path = setting(
        Path("var/registry/tls/registry-ca.crt"),
        "CA that signed the registry's TLS certificate (registry_sim writes it at first start)",
    )
    registry_client_cert: Path = setting(
        Path("var/registry/tls/link-client.crt"),
        "this server's client certificate for the registry link (registry_sim issues it at first start)",
    )
    registry_client_key: Path = setting(Path("var/registry/tls/link-client.key"), "its private key (0600)")
    registry_timeout_s: float = setting(
        1.0, "timeout for one registry request (feed, versions, health), seconds", check=above_zero
    )
    snapshot_timeout_s: float = setting(
        30.0, "timeout between two reads of a snapshot stream, seconds", check=above_zero
    )
    registry_link: bool = setting(True, "follow the registry's change feed and probe versions before issuing")
    issue_claim_s: float = setting(
        30.0,
        "an issue's claim on a paid quote lapses after this (a retry then takes it over; sooner when its node"
        " died), seconds",
        check=above_zero,
    )
    feed_poll_s: float = setting(
        0.2, "pause between change-feed polls when the replica is current, seconds", check=above_zero
    )
    feed_batch: int = setting(
        10000, "changes asked for in one feed request (one transaction each)", check=above_zero
    )
    database_url: str = setting(
        "",
        "the database: empty for SQLite in data_dir (konbini.sqlite3), or postgresql://user@host:5432/db"
        " (PostgreSQL: migrate it with konbini-ops migrate)",
        check=_database_url,
        shown=lambda url: repr(redacted_url(str(url))),
    )
    db_readers: int = setting(
        2,
        "read-only database connections beside the one writer (reads never wait for writes)",
        check=_database_readers,
    )
    breaker_failures: int = setting(
        3, "consecutive registry failures that switch the server to recovery", check=above_zero
    )
    breaker_cooldown_s: float = setting(
        2.0, "first wait before probing a failed registry (doubles while it flaps)", check=above_zero
    )
    breaker_stable_s: float = setting(
        60.0, "the registry must stay up this long before the cool-down resets", check=above_zero
    )
    recovery_max_replica_age_s: int = setting(
        86400, "in recovery, kiosks refuse once the replica is older than this", check=above_zero
    )
    card_ca_cert: Path = setting(Path("var/card-ca/ca.crt"), "PEM certificate of the trusted card CA")
    card_crl_url: str = setting(
        "",
        "where the card CA's CRL is fetched; empty: <registry_url>/crl/card-ca.crl when the registry link is"
        " on; 'off': no revocation check (tests only)",
    )
    card_crl_refresh_s: float = setting(
        300.0, "how often the card CRL is fetched again, seconds", check=above_zero
    )
    card_crl_max_stale_s: int = setting(
        86400,
        "a CRL past its nextUpdate is still used this long (the publisher may be down); after that kiosk"
        " authentication is refused (card_revocation_unknown) until a fresh CRL arrives",
        check=_not_negative_seconds,
    )
    phone_ca_cert: Path = setting(
        Path("var/phone-ca/ca.crt"),
        "PEM certificate of the trusted smartphone CA (スマホ用電子証明書); while it is not installed phones are"
        " refused (card_cert_untrusted) and cards work as before",
    )
    phone_crl_url: str = setting(
        "",
        "where the smartphone CA's CRL is fetched; empty: <registry_url>/crl/phone-ca.crl when the registry"
        " link is on; 'off': no revocation check (tests only)",
    )
    phone_android_policy: str = setting(
        DEMO_POLICY_OIDS[Form.ANDROID],
        "certificate-policy OID naming a phone certificate of the Android form (J-LIS's is not public: the"
        " default is the demo smartphone CA's)",
        check=_policy_oid,
    )
    phone_iphone_policy: str = setting(
        DEMO_POLICY_OIDS[Form.IPHONE],
        "certificate-policy OID naming a phone certificate of the iPhone form (the default is the demo's)",
        check=_policy_oid,
    )
    phone_pin_android: str = setting(
        PinPolicy.REQUIRED.value,
        "whether kiosks ask the registered PIN of an Android-form phone: required, or on_device (the phone"
        " verified its owner before it signed)",
        check=_pin_policy,
    )
    phone_pin_iphone: str = setting(
        PinPolicy.ON_DEVICE.value,
        "whether kiosks ask the registered PIN of an iPhone-form phone: on_device (Face ID on the phone, as the"
        " national service accepts) or required",
        check=_pin_policy,
    )
    kiosk_phone_linking: bool = setting(
        True, "a resident signed in with their card may link a phone themselves at a kiosk"
    )
    municipality_code: str = setting("462012", "全国地方公共団体コード of the city (Kagoshima City)")
    municipality_name: str = setting("鹿児島市", "name of the city printed on certificates")
    mayor_name: str = setting(
        "鹿児島県鹿児島市長　桜島　太郎",
        "mayor's title (with the prefecture, as the national standard asks) and (synthetic) name printed on"
        " certificates",
    )
    nonce_ttl_s: int = setting(120, "life of a kiosk session nonce, seconds", check=above_zero)
    session_idle_s: int = setting(300, "a kiosk session ends after this many idle seconds", check=above_zero)
    kiosk_max_open_sessions: int = setting(
        4, "open sessions one kiosk may hold at once (beyond: 429 too_many_sessions)", check=above_zero
    )
    kiosk_session_opens_per_minute: int = setting(
        30, "sessions one kiosk may open a minute (beyond: 429 session_rate_limited)", check=above_zero
    )
    max_body_bytes: int = setting(64 * 1024, "largest request body the kiosk API accepts", check=above_zero)
    max_connections: int = setting(
        1000, "open connections at most; more are closed before TLS starts", check=above_zero
    )
    max_connections_per_source: int = setting(
        200,
        "open connections from one address at most (off with plain_http: the proxy limits sources)",
        check=above_zero,
    )
    tls_handshake_timeout_s: float = setting(
        10.0, "a connection that has not finished its TLS handshake by then is closed", check=above_zero
    )
    body_timeout_s: float = setting(
        10.0, "a request body must arrive whole within this many seconds (else 408)", check=above_zero
    )
    header_timeout_s: float = setting(
        15.0,
        "a connection that sends no complete request for this long (idle keep-alive included) is closed;"
        f" longer than the {KIOSK_KEEPALIVE_S:g} s after which kiosks close an idle connection themselves",
        check=_longer_than_kiosk_keepalive,
    )
    pin_max_failures: int = setting(3, "consecutive PIN failures that lock a registration", check=above_zero)
    staff_max_failures: int = setting(
        5, "failed staff logins in a row that lock the account for staff_lockout_s", check=above_zero
    )
    ops_token_days: int = setting(
        90, "how long a named ops token works (token-add --days may ask for less)", check=above_zero
    )
    staff_source_max_failures: int = setting(
        4,
        "failed staff logins from one address in staff_source_window_s after which the address waits",
        check=above_zero,
    )
    staff_source_window_s: int = setting(
        900, "the window of staff_source_max_failures, seconds", check=above_zero
    )
    staff_lockout_s: int = setting(
        900,
        "how long a locked staff account stays locked (konbini-ops staff-unlock lifts it sooner)",
        check=above_zero,
    )
    staff_session_max_s: int = setting(
        12 * 3600,
        "a staff session ends this many seconds after its login, however active (then log in again)",
        check=above_zero,
    )
    argon2_time_cost: int = setting(2, "argon2id iterations (OWASP minimum: 2 with 19 MiB)", check=above_zero)
    argon2_memory_kib: int = setting(
        19 * 1024, "argon2id memory, KiB (OWASP minimum: 19456)", check=above_zero
    )
    argon2_parallelism: int = setting(1, "argon2id lanes", check=above_zero)
    kiosk_fees_yen: dict = setting(
        {k: 200 for k in _KINDS},
        "kiosk fee per certificate kind, yen (TOML table or JSON in the environment)",
        check=_fee_table,
    )
    counter_fees_yen: dict = setting(
        {k: 300 for k in _KINDS}, "counter fee per certificate kind, yen", check=_fee_table
    )
    kiosk_allow_kojin_bango: bool = setting(
        False, "may residents ask for 個人番号 on a 住民票の写し at a kiosk"
    )
    juminhyo_layout: str = setting(
        "setai", "住民票の写し layout: 'setai' (世帯連記式) or 'kojin' (個人票)", check=_juminhyo_layout
    )
    tax_year_opens: str = setting(
        "06-10",
        "the day (MM-DD, 04-01 to 12-31) from which a new fiscal year's tax certificates are issued; before"
        " it, asking for that year is refused naming the day. Kagoshima City: 6月10日 for kiosks (its Q&A page"
        " on the 令和3年度 opening; 'mid-June' since), Kitakyushu City: 06-04",
        check=_month_day,
    )
    service_hours: str = setting(
        "06:30-23:00", "kiosk service hours, Japan time, HH:MM-HH:MM", check=_service_hours
    )
    closed_days: str = setting(
        "12-29,12-30,12-31,01-01,01-02,01-03", "days (MM-DD) kiosks are closed every year", check=_closed_days
    )
    maintenance_windows: str = setting(
        "",
        "planned maintenance, Japan time: 'YYYY-MM-DDTHH:MM/YYYY-MM-DDTHH:MM' separated by commas",
        check=_maintenance_windows,
    )
    public_base_url: str = setting(
        "",
        "the city's public HTTPS site (a publicly trusted certificate): printed QR codes link to"
        " <url>/verify/<record> so a phone camera opens the check page; empty: the QR holds the bare record",
        check=_site_address,
    )
    backup_at: str = setting(
        "03:00",
        "the daily backup's time, Japan time, HH:MM (konbini-ops backup takes one now)",
        check=_time_of_day,
    )
    backups_kept: int = setting(
        7, "backups kept in <data_dir>/backups; older ones are removed", check=above_zero
    )
    retention_days: int = setting(
        1827,
        "days issuance records and the personal field of audit rows are kept; a purge (requested, then"
        " approved by another administrator) may erase only what is older",
        check=above_zero,
    )
    office_hours: str = setting(
        "08:30-17:15",
        "the city hall's office hours (JST); staff activity outside them is shown in the monthly review",
        check=_office_hours,
    )
    office_days: str = setting(
        "mon,tue,wed,thu,fri", "the city hall's office days, for the monthly review", check=_office_days
    )
    review_failed_logins_per_day: int = setting(
        3,
        "monthly review: failed logins of one staff member in a day from which it is an anomaly",
        check=above_zero,
    )
    review_searches_per_day: int = setting(
        100,
        "monthly review: resident searches of one staff member in a day from which it is an anomaly",
        check=above_zero,
    )
    review_mynumber_views_per_day: int = setting(
        20,
        "monthly review: 個人番号 views of one staff member in a day from which it is an anomaly",
        check=above_zero,
    )
    review_voids_per_day: int = setting(
        10, "monthly review: voided certificates in a day from which it is an anomaly", check=above_zero
    )
    audit_checkpoint_s: float = setting(
        60.0,
        "how often a signed checkpoint of the audit chain's head is appended to audit/checkpoints.log",
        check=above_zero,
    )
    pades_for_kiosk: bool = setting(
        False, "also sign kiosk print jobs with PAdES (counter/digital copies always are)"
    )

    @property
    def db_path(self) -> Path:
        """The SQLite database (when ``database_url`` is empty)."""
        return self.data_dir / "konbini.sqlite3"

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``, by ``database_url``."""
        return "postgresql" if self.database_url else "sqlite"

    @property
    def crl_source(self) -> str | None:
        """The CRL's URL, or None when revocation is not checked."""
        if self.card_crl_url == "off":
            return None
        if self.card_crl_url:
            return self.card_crl_url
        return f"{self.registry_url.rstrip('/')}/crl/card-ca.crl" if self.registry_link else None

    @property
    def phone_crl_source(self) -> str | None:
        """The smartphone CA's CRL URL, or None when it is not checked (as for the card's, or 'off')."""
        if self.phone_crl_url == "off" or (self.crl_source is None and not self.phone_crl_url):
            return None
        if self.phone_crl_url:
            return self.phone_crl_url
        return f"{self.registry_url.rstrip('/')}/crl/phone-ca.crl" if self.registry_link else None

    @property
    def phone_crl_required(self) -> bool:
        """Phones are checked for revocation whenever cards are (unless ``phone_crl_url`` is 'off'): with no
        source for the smartphone CA's CRL they are then refused, never let in unchecked."""
        return self.phone_crl_url != "off" and (
            self.crl_source is not None or self.phone_crl_source is not None
        )

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


def _cross_problems(s: Settings) -> list[tuple[str, str]]:
    """(setting, what is allowed) for settings that depend on each other."""
    found = []
    if s.staff_source_max_failures >= s.staff_max_failures:
        found.append(("staff_source_max_failures", f"below staff_max_failures ({s.staff_max_failures}), so that"
                      " one address cannot lock an account"))  # fmt: skip
    if s.plain_http and not is_loopback(s.host):
        found.append(("plain_http", f"only on a loopback host, not with host {s.host!r}"))
    if s.phone_android_policy == s.phone_iphone_policy:
        found.append(
            ("phone_iphone_policy", "another OID than phone_android_policy (the OID names the form)")
        )
    return found


SERVER_SETTINGS = SettingsLoader(
    Settings,
    env_prefix="KONBINI_",
    config_variable="KONBINI_CONFIG",
    cross_checks=_cross_problems,
    listed_by="konbini-server --help-settings",
)


def load_settings(
    config_file: Path | None = None, env: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults, then the TOML file, then ``KONBINI_*`` environment variables, then keyword overrides;
    every value checked here, so a process refuses a bad one at start (:class:`SettingsError`)."""
    return SERVER_SETTINGS.load(config_file, env, **overrides)


def settings_or_exit(prog: str, config_file: Path | None = None, **overrides: Any) -> Settings:
    """For a command's ``main``: the settings, or one line naming what is wrong and exit status 2."""
    from wire.cli import exit_on_bad_setting

    with exit_on_bad_setting(prog):
        return load_settings(config_file, **overrides)


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for ``--help-settings`` and the README."""
    return SERVER_SETTINGS.describe()
