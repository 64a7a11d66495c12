"""Settings: embedded defaults, then the TOML file, then KONBINI_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from issuance_server.settings import load_settings


def test_defaults_run_embedded() -> None:
    s = load_settings(env={})
    assert (
        s.db_path == Path("var/konbini.sqlite3")
        and s.port == 8470
        and s.registry_url.startswith("https://127.0.0.1")
        and s.server_url == "https://127.0.0.1:8470"
    )


def test_toml_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "konbini.toml"
    cfg.write_text(
        'port = 9000\nmunicipality_name = "テスト市"\ndata_dir = "/srv/konbini"\n', encoding="utf-8"
    )
    s = load_settings(env={"KONBINI_CONFIG": str(cfg), "KONBINI_PORT": "9100"})
    assert s.port == 9100 and s.municipality_name == "テスト市" and s.data_dir == Path("/srv/konbini")


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "konbini.toml"
    cfg.write_text("prot = 9000\n")
    with pytest.raises(ValueError, match="prot"):
        load_settings(cfg, env={})
