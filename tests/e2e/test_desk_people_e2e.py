"""The desk as clerks use it (issue 33), in headless Chromium against the desk process, the server,
registry_sim and pcscd + vpcd with the virtual card: a clerk with only the registrar role finds the resident
however the name is typed (variant characters marked), reads the record in Japanese (labels, 和暦, Japan
time), registers a card while the page shows the customer display's progress (and cancels once), the
resident reads the display in Vietnamese; revoking asks first; a lock by the card's own PIN is explained; a
page the clerk's roles do not open says so with the way back. axe-core's WCAG 2.1 AA rules find nothing of
any impact on each page.

``KONBINI_DESK_SCREENS_DIR=docs/desk .venv/bin/pytest -m e2e tests/e2e/test_desk_people_e2e.py`` also saves
the screenshots of the README."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from konbini_demo.desk_ui import DeskPages
from konbini_demo.kiosk_ui import browser
from konbini_demo.processes import run
from konbini_demo.stack import STAFF_ID, STAFF_PASSWORD, Stack
from registration.desk.words import say
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.stacks import registered_card
from wire.catalogues import read_catalogue

pytestmark = pytest.mark.e2e
REGISTRAR, PASSWORD, PIN = "registrar-only", "registrar-only-password-01", "3691"
PHONE_PIN = "4826"
SHOTS = os.environ.get("KONBINI_DESK_SCREENS_DIR")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as b:
        yield b


def checked(desk: DeskPages, name: str, page: Page | None = None) -> None:
    """axe-core finds nothing on the page as it is now; its screenshot saved when asked for."""
    shown = page or desk.clerk
    assert desk.axe_violations(shown) == [], name
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shown.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def registrar_only(stack: Stack) -> None:
    """A clerk account with only the registrar role (asked by one administrator, approved by another)."""
    run(
        ["registration.cli", "staff", "add", REGISTRAR, "--roles", "registrar", "--name", "登録 三郎"],
        env=stack.clerk_env(),
    )
    run(
        ["registration.cli", "staff", "approve", REGISTRAR],
        env={**stack.second_admin_env(), "KONBINI_NEW_STAFF_PASSWORD": PASSWORD},
    )


def test_a_registrar_finds_reads_and_registers_in_japanese_with_progress_and_cancel(
    stack: Stack, chromium: Browser
) -> None:
    registrar_only(stack)
    url, customer_url = stack.start_desk()
    desk = DeskPages(chromium, url, customer_url, with_axe=True)
    desk.first_login(REGISTRAR, PASSWORD)
    for typed in ("ヨシダ", "ﾖｼﾀﾞ", "吉田", "yoshida", "髙志"):  # the record: 𠮷田　髙志, よしだ　たかし
        assert DEMO_ATENA_NO in desk.search(typed), typed
    marked = desk.clerk.locator(f"a[href='/residents/{DEMO_ATENA_NO}'] >> xpath=../.. >> mark.variant")
    assert marked.first.inner_text().startswith("𠮷") and "U+20BB7" in marked.first.inner_text()
    checked(desk, "01-search")

    desk.open_resident(DEMO_ATENA_NO)
    record = desk.clerk.inner_text("#record")
    assert "男" in record and "年" in record and "resident" not in record  # labels and 和暦, not codes
    assert desk.clerk.inner_text("#mynumber").startswith("********")  # masked: no mynumber role
    assert desk.clerk.locator("form[action$='/mynumber']").count() == 0
    checked(desk, "02-record")

    stack.insert_card(stack.personalise_card("registrar-card", PIN))
    desk.start_registration()
    desk.wait_page("registering")
    desk.customer.click("#lang-vi")  # the resident reads the display in their language
    vi = read_catalogue("registration.desk.customer_messages", "vi")
    desk.customer.wait_for_function(
        "text => document.getElementById('prompt').textContent === text", arg=vi["customer.first"]
    )
    assert desk.customer.get_attribute("html", "lang") == "vi"
    checked(desk, "03-customer-display-vi", desk.customer)
    # the progress page reloads itself when the display's step changes: checked once it shows this one
    desk.clerk.wait_for_selector("#registration-progress[data-step=first]")
    checked(desk, "04-registering")
    desk.clerk.click("#cancel-registration")
    desk.wait_page("resident")
    assert say("desk.registration_cancelled").ja in desk.clerk.inner_text(".notice")
    desk.customer.wait_for_selector("main[data-step=cancelled]")

    notice = desk.register_card(PIN)
    assert say("desk.registered", card_id="").ja.split("（")[0][:6] in notice, notice
    assert "有効" in desk.clerk.inner_text("#registrations")
    desk.clerk.click("#action-revoke")  # for good: asked once more
    desk.clerk.wait_for_selector("#confirm-revoke")
    checked(desk, "05-confirm-revoke")
    desk.clerk.click("#confirm-revoke a")
    desk.wait_page("resident")
    assert "有効" in desk.clerk.inner_text("#registrations")

    with sqlite3.connect(stack.server_dir / "konbini.sqlite3", timeout=10) as conn:  # as a kiosk reports it
        conn.execute(
            "UPDATE registrations SET status = 'locked', lock_reason = 'card_pin_blocked'"
            " WHERE atena_no = ? AND status = 'active'",
            (DEMO_ATENA_NO,),
        )
    desk.clerk.reload()
    desk.wait_page("resident")
    assert "カードの暗証番号ロック" in desk.clerk.inner_text("#registrations")
    assert "J-LIS" in desk.clerk.inner_text("#lock-help")
    assert (
        desk.clerk.locator("#action-unlock").count() == 1
        and desk.clerk.locator("#action-resume").count() == 0
    )
    checked(desk, "06-card-pin-blocked")
    desk.clerk.click("#action-unlock")  # the same PIN set again at the J-LIS reset: the card on the reader
    desk.clerk.wait_for_selector(".notice")
    assert "有効" in desk.clerk.inner_text("#registrations")

    desk.clerk.goto(f"{url}/review")  # the auditor's page
    desk.wait_page("forbidden")
    assert "監査" in desk.clerk.inner_text("main") and desk.clerk.locator("main a[href='/']").count() == 1
    assert desk.clerk.locator("header nav").count() == 1  # the way back
    checked(desk, "07-forbidden")
    desk.close()


def test_a_wrong_login_is_said_in_japanese(stack: Stack, chromium: Browser) -> None:
    url, customer_url = stack.start_desk()
    desk = DeskPages(chromium, url, customer_url, with_axe=True)
    desk.log_in("nobody-here", "not-the-password-01", "000000")
    desk.wait_page("login")
    error = desk.clerk.inner_text(".error")
    assert error.startswith(say("login_failed").ja) and "login_failed" in error
    checked(desk, "00-login-error")
    desk.close()


def test_every_other_page_of_the_desk_is_accessible(stack: Stack, chromium: Browser) -> None:
    """The pages of the other roles (an administrator holding them all), and the lock screen."""
    url, customer_url = stack.start_desk()
    desk = DeskPages(chromium, url, customer_url, with_axe=True)
    desk.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
    desk.wait_page("search")
    for path, name in (
        ("/admin/staff", "staff"),
        ("/review", "review"),
        ("/ops", "ops"),
        ("/purges", "purges"),
    ):
        desk.clerk.goto(f"{url}{path}")
        desk.wait_page(name)
        assert "resident" not in desk.clerk.inner_text("main").split()  # labels, not codes
        checked(desk, f"08-{name}")
    desk.clerk.goto(f"{url}/lock")
    desk.wait_page("lock")
    checked(desk, "09-lock")
    desk.close()


def test_a_registrar_links_each_form_of_smartphone_and_revokes_one_alone(
    stack: Stack, chromium: Browser
) -> None:
    """The registered card and its PIN on the customer display, then the phone on the same reader with its
    PIN (an Android phone's own; one the resident chooses for an iPhone); the clerk sees each credential's
    form and certificate serial, never a PIN, and revokes the Android phone alone (the card and the iPhone
    stay)."""
    staff_id, password = "registrar-phones", "registrar-phones-password-01"
    run(["registration.cli", "staff", "add", staff_id, "--roles", "registrar", "--name", "登録 四郎"],
        env=stack.clerk_env())  # fmt: skip
    run(["registration.cli", "staff", "approve", staff_id],
        env={**stack.second_admin_env(), "KONBINI_NEW_STAFF_PASSWORD": password})  # fmt: skip
    card = registered_card(stack, PIN, "desk-phone-card")
    url, customer_url = stack.start_desk()
    desk = DeskPages(chromium, url, customer_url, with_axe=True)
    desk.first_login(staff_id, password)
    desk.search("ヨシダ")
    desk.open_resident(DEMO_ATENA_NO)
    desk.customer.goto(customer_url)
    for form in ("android", "iphone"):
        stack.insert_card(card)
        desk.clerk.click("#link-phone", no_wait_after=True)
        desk.customer.wait_for_selector("main[data-step=card_pin]")
        if form == "android":
            desk.clerk.wait_for_selector("#registration-progress[data-step=card_pin]")
            checked(desk, "10-linking-phone")
        desk.type_pin(PIN, "phone")  # the card's PIN; then the display asks for the phone
        stack.insert_card(stack.personalise_phone(f"desk-{form}", form, PHONE_PIN))
        desk.type_pin(PHONE_PIN, None)  # an Android phone's own PIN, or the one chosen for an iPhone
        desk.clerk.wait_for_selector(".notice, .error", timeout=60_000)
        notice = desk.clerk.inner_text(".notice, .error")
        assert notice.startswith("スマートフォンを登録しました"), notice
        assert PHONE_PIN not in desk.clerk.content()
    rows = {
        r.get_attribute("data-form"): r.inner_text()
        for r in desk.clerk.locator("#registrations tbody tr").all()
    }
    assert "Android" in rows["android"] and "iPhone" in rows["iphone"] and "有効" in rows["card"]
    checked(desk, "11-phones-linked")
    android = desk.clerk.locator("#registrations tr[data-form=android] button[id^=action-revoke-]")
    android.click()
    desk.clerk.wait_for_selector("#confirm-revoke")
    desk.clerk.click("#revoke-confirmed")
    desk.wait_page("resident")
    rows = {
        r.get_attribute("data-form"): r.inner_text()
        for r in desk.clerk.locator("#registrations tbody tr").all()
    }
    assert "失効" in rows["android"] and "有効" in rows["card"] and "有効" in rows["iphone"]
    desk.close()
