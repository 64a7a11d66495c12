"""The desk app in headless Chromium (Playwright, Debian's /usr/bin/chromium) against the desk process,
the server, registry_sim and pcscd + vpcd with the virtual card: a new clerk enrols TOTP from the QR page
and logs in, finds a resident (個人番号 masked), unmasks it with a reason, registers a card and a PIN that
the resident types twice on the customer display (which the clerk's page cannot read), and the resident
then gets a certificate at a kiosk with that card and PIN; an idle desk locks and shows nothing personal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from kiosk.pcscd import ensure_pcscd
from konbini_demo.authenticator import Authenticator
from konbini_demo.kiosk_ui import AXE, browser
from konbini_demo.processes import Service, free_port, run
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO

pytestmark = pytest.mark.e2e
CLERK, PASSWORD, PIN = "desk-clerk", "desk-clerk-password-01", "2468"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ensure_pcscd()
    s = Stack(tmp_path_factory.mktemp("desk"), residents=200)
    try:
        s.start()
        run(
            [
                "registration.cli",
                "staff",
                "add",
                CLERK,
                "--roles",
                "registrar,counter,mynumber",
                "--name",
                "窓口",
            ],
            env={**s.clerk_env(), "KONBINI_NEW_STAFF_PASSWORD": PASSWORD},
        )
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as b:
        yield b


def start_desk(stack: Stack, *flags: str) -> tuple[Service, str, str]:
    port, customer = free_port(), free_port()
    svc = Service(
        f"desk-{port}",
        ["registration.desk.cli", "serve", "--server", stack.server_url, "--server-ca", str(stack.server_ca),
         "--port", str(port), "--customer-port", str(customer), "--reader", stack.reader, *flags],
        stack.logs,
    )  # fmt: skip
    svc.wait_log("konbini-desk ready on")
    return svc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{customer}"


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations.map(v => [v.id, v.impact])")
    return [rule for rule, impact in found if impact in ("serious", "critical")]


def log_in(page: Page, url: str, code: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#staff_id", CLERK)
    page.fill("#password", PASSWORD)
    page.fill("#code", code)
    page.click("button[type=submit]")


def test_a_clerk_enrols_finds_unmasks_and_registers_a_card_with_the_pin_typed_by_the_resident(
    stack: Stack, chromium: Browser, tmp_path: Path
) -> None:
    desk, url, customer_url = start_desk(stack)
    try:
        context = chromium.new_context(bypass_csp=True)  # only so that axe-core can be injected
        clerk = context.new_page()
        log_in(clerk, url, "")  # first login: no code yet, the enrolment opens
        clerk.wait_for_load_state()
        assert clerk.locator("main[data-page=enrol]").count() == 1, clerk.inner_text("body")
        assert clerk.locator("img.qr").get_attribute("src", timeout=5000).startswith("data:image/svg+xml")
        device = Authenticator(clerk.inner_text("#totp-key").strip())
        clerk.fill("#code", device.code())
        clerk.click("button[type=submit]")
        clerk.wait_for_load_state()
        assert clerk.locator("main[data-page=recovery-codes]").count() == 1, clerk.inner_text("body")
        assert len(re.findall(r"[a-z2-9]{5}-[a-z2-9]{5}", clerk.inner_text("#recovery-codes"))) == 10
        clerk.click("text=窓口業務へ")
        clerk.wait_for_selector("main[data-page=search]")
        assert axe_violations(clerk) == []

        clerk.fill("#kana", "よしだ")
        clerk.click("form[action='/search'] button[type=submit]")
        clerk.wait_for_selector("#results")
        masked = clerk.inner_text("#results")
        assert DEMO_ATENA_NO in masked and "********" in masked
        clerk.click(f"a[href='/residents/{DEMO_ATENA_NO}']")
        clerk.wait_for_selector("main[data-page=resident]")
        assert axe_violations(clerk) == []
        assert clerk.inner_text("#mynumber").startswith("********")
        clerk.fill("#reason", "本人確認書類との照合")
        clerk.click("form[action$='/mynumber'] button[type=submit]")
        clerk.wait_for_selector("main[data-page=resident]")
        assert re.fullmatch(r"[0-9]{12}", clerk.inner_text("#mynumber").strip())

        stack.insert_card(stack.personalise_card("desk-card", PIN))  # the card's own PIN: the resident's
        customer = chromium.new_context().new_page()
        customer.goto(customer_url)

        def type_pin(pin: str, then: str | None) -> None:
            for digit in pin:
                customer.click(f"[data-key='{digit}']")
            customer.click("#pin-form button[type=submit]")
            if then:
                customer.wait_for_selector(f"main[data-step={then}]")

        clerk.click("#register-card", no_wait_after=True)  # answered once the resident typed a PIN twice
        customer.wait_for_selector("main[data-step=first]")
        type_pin("1111", "repeat")
        type_pin("1111", None)  # twice alike, but not the card's PIN: the card refuses it
        clerk.wait_for_selector(".error", timeout=60_000)
        assert "pin" in clerk.inner_text(".error").lower()
        customer.wait_for_selector("main[data-step=failed]")

        clerk.click("#register-card", no_wait_after=True)
        customer.wait_for_selector("main[data-step=first]")
        other = context.new_page()  # a clerk's page, CSP bypassed even: the same-origin policy still holds
        other.goto(f"{url}/")
        stolen = other.evaluate(
            f"() => fetch('{customer_url}/api/state').then(r => r.text()).then(() => 'read', () => 'blocked')"
        )
        assert stolen == "blocked"  # another origin: the clerk's page cannot read the display
        other.close()
        type_pin(PIN, "repeat")
        type_pin("1357", "mismatch")  # the two entries differ: start again
        type_pin(PIN, "repeat")
        type_pin(PIN, None)
        clerk.wait_for_selector(".notice", timeout=60_000)
        assert "registered" in clerk.inner_text(".notice")
        assert PIN not in clerk.content()
        customer.wait_for_selector("main[data-step=done]")
    finally:
        desk.stop()
    session = stack.kiosk_session(PIN, tmp_path / "out")
    assert "printed serial=" in session.stdout, session.stdout + session.stderr


def test_an_idle_desk_locks_and_shows_nothing_personal(stack: Stack, chromium: Browser) -> None:
    desk, url, _ = start_desk(stack, "--idle-lock", "3")
    try:
        page = chromium.new_context().new_page()
        device_code = stack.authenticator().code()
        page.goto(f"{url}/login")
        page.fill("#staff_id", "demo-clerk")
        page.fill("#password", "demo-clerk-password-0001")
        page.fill("#code", device_code)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("main[data-page=search]").count() == 1, page.inner_text("body")
        page.goto(f"{url}/residents/{DEMO_ATENA_NO}")
        page.wait_for_selector("main[data-page=resident]")
        page.wait_for_selector("main[data-page=lock]", timeout=15_000)  # no input for 3 s
        assert DEMO_ATENA_NO not in page.content()
        page.goto(f"{url}/residents/{DEMO_ATENA_NO}")
        page.wait_for_selector("main[data-page=lock]")
        page.fill("#password", "demo-clerk-password-0001")
        page.click("form[action='/lock'] button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("main[data-page=search]").count() == 1, page.inner_text("body")
    finally:
        desk.stop()
