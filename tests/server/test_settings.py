"""Settings: embedded defaults, then the TOML file, then KONBINI_* environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from issuance_server import __main__ as server_main
from issuance_server.settings import describe, load_settings
from konbini_demo.processes import free_port


def test_defaults_run_embedded() -> None:
    s = load_settings(env={})
    declared_port = next(default for name, default, _ in describe() if name == "port")
    assert (
        s.db_path == Path("var/konbini.sqlite3")
        and s.database_url == ""  # SQLite in the data folder: no database server
        and s.port == declared_port
        and s.registry_url.startswith("https://127.0.0.1")
        and s.server_url == f"https://127.0.0.1:{declared_port}"
    )


def test_toml_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "konbini.toml"
    cfg.write_text(
        'feed_batch = 500\nmunicipality_name = "テスト市"\ndata_dir = "/srv/konbini"\n', encoding="utf-8"
    )
    s = load_settings(env={"KONBINI_CONFIG": str(cfg), "KONBINI_FEED_BATCH": "700"})
    assert s.feed_batch == 700 and s.municipality_name == "テスト市" and s.data_dir == Path("/srv/konbini")


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "konbini.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ValueError, match="prot"):
        load_settings(cfg, env={})


BAD_SETTINGS = [
    ({"KONBINI_KIOSK_FEES_YEN": '{"juminhyo": 200}'}, None, "kiosk_fees_yen", "missing"),
    ({"KONBINI_COUNTER_FEES_YEN": '{"juminhyo": -1, "inkan": 300, "tax_income": 300, "tax_status": 300,'
      ' "tax_income_assessment": 300, "tax_payment": 300, "stamps": 1}'}, None, "counter_fees_yen", "unknown stamps"),
    ({"KONBINI_JUMINHYO_LAYOUT": "bogus"}, None, "juminhyo_layout", "'setai'"),
    ({"KONBINI_SERVICE_HOURS": "6:30 to 23"}, None, "service_hours", "06:30-23:00"),
    ({"KONBINI_SERVICE_HOURS": "17:00-09:00"}, None, "service_hours", "open before"),
    ({"KONBINI_CLOSED_DAYS": "13-45"}, None, "closed_days", "days of the year"),
    ({"KONBINI_PORT": "abc"}, None, "port", "environment variable KONBINI_PORT"),
    ({}, 'retention_days = 30\\nmunicipality_name = "x\\n', "config file", "line"),
    ({}, "no_such_setting = 1\\n", "no_such_setting", "--help-settings"),
    ({"KONBINI_CONFIG": "/nonexistent/konbini.toml"}, None, "/nonexistent/konbini.toml", "not found"),
    ({"KONBINI_FEED_BATCH": "0"}, None, "feed_batch", "above 0"),
    ({"KONBINI_OFFICE_HOURS": "17:15-08:30"}, None, "office_hours", "open before"),
    ({"KONBINI_OFFICE_DAYS": "mon,funday"}, None, "office_days", "mon,tue"),
    ({"KONBINI_RETENTION_DAYS": "0"}, None, "retention_days", "above 0"),
    ({"KONBINI_STAFF_SOURCE_MAX_FAILURES": "5"}, None, "staff_source_max_failures", "cannot lock an account"),
]  # fmt: skip


IN_PROCESSES = (
    2  # these run as the real command in a process of its own; the rest in-process (~0.9 s a start)
)


def _bad_setting_env(tmp_path: Path, env: dict[str, str], toml: str | None) -> dict[str, str]:
    """The command's environment: none of the caller's KONBINI_*, a free port, then the case's."""
    extra = {"KONBINI_PORT": str(free_port())}  # were a bad setting let through, no fixed port is taken
    if toml is not None:
        (tmp_path / "konbini.toml").write_text(toml.replace("\\n", "\n"), encoding="utf-8")
        extra["KONBINI_CONFIG"] = str(tmp_path / "konbini.toml")
    return {**extra, **env}


def _said_in_one_line(status: int, stderr: str, tmp_path: Path, names: str, says: str) -> None:
    assert status == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert names in lines[0] and says in lines[0], lines[0]
    assert not (tmp_path / "var").exists()  # refused before anything was made


@pytest.mark.parametrize(("env", "toml", "names", "says"), BAD_SETTINGS[:IN_PROCESSES])
def test_a_bad_setting_stops_the_server_process_at_start_with_one_line(
    tmp_path: Path, env: dict[str, str], toml: str | None, names: str, says: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KONBINI_")}
    run = subprocess.run(
        [sys.executable, "-m", "issuance_server", "--data-dir", str(tmp_path / "var")],
        env={**clean, **_bad_setting_env(tmp_path, env, toml)}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    _said_in_one_line(run.returncode, run.stderr, tmp_path, names, says)


@pytest.mark.parametrize(("env", "toml", "names", "says"), BAD_SETTINGS[IN_PROCESSES:])
def test_a_bad_setting_stops_the_server_at_start_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    toml: str | None,
    names: str,
    says: str,
) -> None:
    """``konbini-server``'s main in this process, with the environment it would have."""
    for name in [n for n in os.environ if n.startswith("KONBINI_")]:
        monkeypatch.delenv(name)
    for name, value in _bad_setting_env(tmp_path, env, toml).items():
        monkeypatch.setenv(name, value)

    def serve(*_: object, **__: object) -> None:
        raise AssertionError("the bad setting was let through: the server would have served")

    monkeypatch.setattr(server_main, "serve", serve)
    status = server_main.main(["--data-dir", str(tmp_path / "var")])
    _said_in_one_line(status, capsys.readouterr().err, tmp_path, names, says)
