"""The desk app in headless Chromium (Playwright, Debian's /usr/bin/chromium) against the desk process,
the server, registry_sim and pcscd + vpcd with the virtual card: an administrator creates a clerk in the
pages, the clerk enrols TOTP from the QR page and logs in, finds a resident (個人番号 masked), unmasks it
with a reason, registers a card and a PIN that the resident types twice on the customer display (which the
clerk's page cannot read), and the resident then gets a certificate at a kiosk with that card and PIN; an
idle desk locks and shows nothing personal."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from konbini_demo.desk_ui import DeskPages
from konbini_demo.kiosk_ui import browser
from konbini_demo.processes import free_port, run
from konbini_demo.resident_stack import private_cups
from konbini_demo.stack import STAFF_ID, STAFF_PASSWORD, Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.kiosk_proxy import TamperingProxy

pytestmark = pytest.mark.e2e
CLERK, PASSWORD, PIN = "desk-clerk", "desk-clerk-password-01", "2468"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as b:
        yield b


def test_a_new_clerk_enrols_finds_unmasks_and_registers_a_card_with_the_pin_typed_by_the_resident(
    stack: Stack, chromium: Browser, tmp_path: Path
) -> None:
    url, customer_url = stack.start_desk()
    admin = DeskPages(chromium, url, customer_url, with_axe=True)
    admin.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
    admin.wait_page("search")
    made = admin.create_staff(CLERK, "窓口 花子", ["registrar", "counter", "mynumber"])
    assert f"{CLERK}: asked for" in made
    assert admin.clerk.locator(f"#approve-{CLERK}").count() == 0  # not for one's own request
    assert admin.axe_violations() == []
    admin.close()
    second = DeskPages(chromium, url, customer_url, with_axe=True)
    second_id, second_password, device = stack.second_admin()
    second.log_in(second_id, second_password, device.code())
    second.wait_page("search")
    assert f"{CLERK}: 承認しました" in second.approve_staff(CLERK, PASSWORD)
    assert second.axe_violations() == []
    second.close()

    desk = DeskPages(chromium, url, customer_url, with_axe=True)
    _, codes = desk.first_login(CLERK, PASSWORD)
    assert len(re.findall(r"[a-z2-9]{5}-[a-z2-9]{5}", codes)) == 10
    assert desk.axe_violations() == []
    found = desk.search("よしだ")
    assert DEMO_ATENA_NO in found and "********" in found
    desk.open_resident(DEMO_ATENA_NO)
    assert desk.axe_violations() == []
    assert desk.clerk.inner_text("#mynumber").startswith("********")
    assert re.fullmatch(r"[0-9]{12}", desk.unmask("本人確認書類との照合"))

    stack.insert_card(stack.personalise_card("desk-card", PIN))  # the card's own PIN: the resident's
    desk.start_registration()
    desk.type_pin("1111", "repeat")
    desk.type_pin("1111", "identity")  # twice alike, but not the card's PIN: the card refuses it
    desk.type_pin(PIN, None)
    desk.clerk.wait_for_selector(".error", timeout=60_000)
    assert "pin" in desk.clerk.inner_text(".error").lower()
    desk.customer.wait_for_selector("main[data-step=failed]")

    desk.start_registration()
    other = desk.context.new_page()  # a clerk's page with its CSP bypassed even: the same-origin policy holds
    other.goto(f"{url}/")
    stolen = other.evaluate(
        f"() => fetch('{customer_url}/api/state').then(r => r.text()).then(() => 'read', () => 'blocked')"
    )
    assert stolen == "blocked"  # another origin: the clerk's page cannot read the display
    other.close()
    desk.type_pin(PIN, "repeat")
    desk.type_pin("1357", "mismatch")  # the two entries differ: start again
    desk.type_pin(PIN, "repeat")
    desk.type_pin(PIN, "identity")
    desk.type_pin(PIN, None)  # the card's identity PIN: the server compares what the card holds
    desk.clerk.wait_for_selector(".notice", timeout=60_000)
    assert "registered" in desk.clerk.inner_text(".notice")
    assert PIN not in desk.clerk.content()
    desk.customer.wait_for_selector("main[data-step=done]")
    desk.close()
    session = stack.kiosk_session(PIN, tmp_path / "out")
    assert "printed serial=" in session.stdout, session.stdout + session.stderr


def test_an_idle_desk_locks_and_shows_nothing_personal(stack: Stack, chromium: Browser) -> None:
    url, customer_url = stack.start_desk("--idle-lock", "3")
    desk = DeskPages(chromium, url, customer_url)
    desk.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
    desk.wait_page("search")
    desk.clerk.goto(f"{url}/residents/{DEMO_ATENA_NO}")
    desk.wait_page("resident")
    desk.wait_page("lock", timeout_ms=15_000)  # no input for 3 s
    assert DEMO_ATENA_NO not in desk.clerk.content()
    desk.clerk.goto(f"{url}/residents/{DEMO_ATENA_NO}")
    desk.wait_page("lock")  # whatever page is asked for
    desk.clerk.fill("#password", STAFF_PASSWORD)
    desk.submit("form[action='/lock']")
    desk.wait_page("search")
    desk.close()


def counter_issue(desk: DeskPages) -> str:
    """The text the desk shows after a counter issuance of a 住民票 (on the resident's page)."""
    desk.clerk.select_option("#kind", "juminhyo")
    desk.submit("#counter-issue")
    desk.clerk.wait_for_selector(".notice, .error", timeout=120_000)
    return desk.clerk.inner_text(".notice, .error")


def test_counter_issuance_at_the_desk_prints_on_the_desks_cups_printer_and_guards_every_sheet(
    stack: Stack, chromium: Browser
) -> None:
    """The desk talks to the server through a proxy: a genuine certificate prints; the same PDF handed over
    again for the next one is stopped by the desk's print guard (not printed, voided, refunded, alarmed)."""
    proxy = TamperingProxy(stack)
    with private_cups(stack, f"konbini-desk{free_port()}") as cups:
        url, customer_url = stack.start_desk(
            "--printer", cups.queue("pdf"), "--cups-server", cups.socket, "--server", proxy.url
        )
        stack.ops("mode", "recovery", "--reason", "main registry maintenance (desk test)")
        try:
            desk = DeskPages(chromium, url, customer_url)
            desk.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
            desk.wait_page("search")
            desk.search("よしだ")
            desk.open_resident(DEMO_ATENA_NO)
            notice = counter_issue(desk)
            assert "printed" in notice and "not printed" not in notice, notice
            serial = re.search(r"printed: (\S+)", notice)
            assert serial
            assert serial[1] in desk.clerk.inner_text("#issuances")
            first = proxy.pdfs[serial[1]]
            proxy.tamper = lambda _serial, _pdf: first  # the earlier PDF again
            stopped = counter_issue(desk)
            desk.close()
        finally:
            stack.ops("mode", "normal")
        [printed] = cups.printed(serial[1])  # the job is titled with the serial
        verdict = stack.verify(printed)  # its QR, through cups-pdf's Ghostscript pass, names the serial
        assert verdict.returncode == 0 and f"serial: {serial[1]}" in verdict.stdout, (
            verdict.stdout + verdict.stderr
        )
    replayed = re.search(r"the print guard stopped, voided and refunded: (\S+) \(wrong_serial\)", stopped)
    assert replayed, stopped
    assert cups.printed(replayed[1]) == []
    with sqlite3.connect(f"file:{stack.server_dir / 'konbini.sqlite3'}?mode=ro", uri=True) as conn:
        status = conn.execute("SELECT status FROM issuances WHERE serial = ?", (replayed[1],)).fetchone()
        alarms = conn.execute(
            "SELECT actor_id FROM audit_log WHERE action = 'print_guard' AND details LIKE ?",
            (f"%{replayed[1]}%",),
        ).fetchall()
    assert status == ("voided",) and alarms == [(STAFF_ID,)]


def test_staff_security_in_the_browser(stack: Stack, chromium: Browser) -> None:
    """Lockout and its lifting by an administrator, a replayed code, a form without its CSRF token, a
    counter clerk who never sees a full 個人番号, and a purge requested and approved in the pages."""
    url, customer_url = stack.start_desk()
    run(
        ["registration.cli", "staff", "add", "counter-only", "--roles", "counter", "--name", "窓口 次郎"],
        env=stack.clerk_env(),
    )
    run(  # four eyes: another administrator approves and sets the temporary password
        ["registration.cli", "staff", "approve", "counter-only"],
        env={**stack.second_admin_env(), "KONBINI_NEW_STAFF_PASSWORD": PASSWORD},
    )
    clerk = DeskPages(chromium, url, customer_url)
    device, shown = clerk.first_login("counter-only", PASSWORD)
    recovery = re.findall(r"[a-z2-9]{5}-[a-z2-9]{5}", shown)
    full = kojin_bango_in_the_registry(stack, DEMO_ATENA_NO)
    results = clerk.search("よしだ")
    clerk.open_resident(DEMO_ATENA_NO)
    assert full not in results and full not in clerk.clerk.content()  # masked on every page it sees
    assert clerk.clerk.locator("form[action$='/mynumber']").count() == 0

    clerk.clerk.evaluate(
        "() => document.querySelector('form[action=\\'/logout\\'] input[name=csrf]').remove()"
    )
    clerk.clerk.click("header form[action='/logout'] button")
    assert "desk.form_expired" in clerk.clerk.inner_text("body")  # the form without its token is refused
    clerk.clerk.goto(f"{url}/")
    clerk.log_out()

    code = device.code()
    clerk.log_in("counter-only", PASSWORD, code)
    clerk.wait_page("search")
    clerk.log_out()
    clerk.log_in("counter-only", PASSWORD, code)  # the same code again
    assert "login_failed" in clerk.clerk.inner_text(".error")
    for n in range(5):
        clerk.log_in("counter-only", f"wrong-password-{n:02d}", "000000")
    clerk.log_in("counter-only", PASSWORD, recovery[0])
    assert "login_failed" in clerk.clerk.inner_text(".error")  # locked, even with the right password

    admin = DeskPages(chromium, url, customer_url)
    admin.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
    admin.wait_page("search")
    admin.clerk.goto(f"{url}/admin/staff")
    assert "ロック中" in admin.clerk.inner_text("#staff")
    admin.clerk.select_option("#action-counter-only", "unlock")
    admin.clerk.click("form[action='/admin/staff/counter-only'] select + button")
    admin.wait_page("staff")
    assert "counter-only: ロック解除" in admin.clerk.inner_text(".notice")
    clerk.log_in("counter-only", PASSWORD, recovery[0])  # a recovery code in place of the app's code
    clerk.wait_page("search")
    clerk.close()

    admin.clerk.goto(f"{url}/purges")
    admin.clerk.fill("#before", "2020-01-01")
    admin.clerk.fill("#purge-reason", "保存期間経過")
    admin.submit("#request-purge")
    admin.wait_page("purges")
    assert "requested" in admin.clerk.inner_text(".notice")
    assert admin.clerk.locator("form[action$='/approve']").count() == 0  # not for one's own request
    admin.close()
    second_id, second_password, device = stack.second_admin()  # independent of the requester
    approver = DeskPages(chromium, url, customer_url)
    approver.log_in(second_id, second_password, device.code())
    approver.wait_page("search")
    approver.clerk.goto(f"{url}/purges")
    approver.clerk.click("form[action$='/approve'] button")
    approver.wait_page("purges")
    assert "done: 0 issuance records" in approver.clerk.inner_text(".notice")  # nothing older than 2020 here
    assert second_id in approver.clerk.inner_text("#purges")
    approver.close()
    verified = stack.ops("audit-verify")
    assert "audit trail intact" in verified.stdout


def kojin_bango_in_the_registry(stack: Stack, atena_no: str) -> str:
    with sqlite3.connect(f"file:{stack.registry_db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT body FROM records WHERE type = 'resident' AND key = ?", (atena_no,)
        ).fetchone()
    return str(json.loads(row[0])["kojin_bango"])


def test_unlocking_at_the_desk_needs_the_residents_own_card(stack: Stack, chromium: Browser) -> None:
    own = stack.personalise_card("unlock-own", "1470")
    stack.insert_card(own)
    stack.register(DEMO_ATENA_NO, "1470")
    with sqlite3.connect(stack.server_dir / "konbini.sqlite3", timeout=10) as conn:  # as after 3 wrong PINs
        conn.execute("UPDATE registrations SET status = 'locked' WHERE atena_no = ? AND status = 'active'",
                     (DEMO_ATENA_NO,))  # fmt: skip
    url, customer_url = stack.start_desk()
    desk = DeskPages(chromium, url, customer_url)
    desk.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
    desk.wait_page("search")
    desk.clerk.goto(f"{url}/residents/{DEMO_ATENA_NO}")
    stack.insert_card(stack.personalise_card("unlock-other", "2580", holder=None))  # somebody else's card
    desk.clerk.click("#action-unlock")
    desk.clerk.wait_for_selector(".error")
    assert "card_mismatch" in desk.clerk.inner_text(".error")
    stack.insert_card(own)
    desk.clerk.click("#action-unlock")
    desk.clerk.wait_for_selector(".notice")
    assert "ロックを解除しました" in desk.clerk.inner_text(".notice")
    assert "有効" in desk.clerk.inner_text("#registrations")
    desk.close()
