"""The served OpenAPI document against the running server: schemathesis generates requests for every route
(valid and invalid, 25 a route, a fixed seed; tests/e2e/schemathesis.toml) with the kiosk's certificate
and the staff and ops tokens, and runs every check on every answer: no server error, every status and body
documented, valid input accepted, invalid input refused, 405s that say what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from konbini_demo.stack import Stack
from tests.e2e.stacks import running_stack
from tests.server.test_openapi import documented
from wire.kiosk_client import KioskCredentials

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("openapi"), residents=200) as s:
        yield s


def test_schemathesis_finds_no_mismatch_between_the_document_and_the_server(stack: Stack) -> None:
    token = {"token": stack.staff_token()}  # the demo clerk: every role, admin included
    creds = KioskCredentials.load(stack.kiosk_credentials)
    env = {
        **os.environ,
        "KONBINI_STAFF_TOKEN": token["token"],
        "KONBINI_OPS_TOKEN": (stack.server_dir / "secrets" / "ops-token").read_text().strip(),
        "KONBINI_KIOSK_CERT": str(creds.client_cert),
        "KONBINI_KIOSK_KEY": str(creds.client_key),
    }
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [
            str(schemathesis), "--no-color", "--config-file", str(ROOT / "tests" / "e2e" / "schemathesis.toml"),
            "run", str(ROOT / "issuance_server" / "openapi.yaml"), "--url", stack.server_url,
            "--tls-verify", str(stack.server_ca),
        ],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and "Failures:" not in run.stdout, run.stdout[-6000:] + run.stderr[-2000:]
    config = tomllib.loads((ROOT / "tests" / "e2e" / "schemathesis.toml").read_text(encoding="utf-8"))
    disabled = [op for op in config.get("operations", []) if op.get("enabled") is False]
    assert f"Tested: {len(documented()) - len(disabled)}" in run.stdout  # every operation not disabled
