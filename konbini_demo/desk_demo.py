"""``konbini-demo --desk``: the city-hall desk in headless Chromium, end to end. An administrator asks for a
clerk's account in the desk's pages and a second administrator approves it (four eyes); the clerk enrols TOTP from the QR page and logs in, finds the demo resident and
registers their card and PIN through the vpcd reader with the PIN typed on the customer display; the
resident gets a certificate at a kiosk; an auditor downloads the month's review as a PDF."""

from __future__ import annotations

import sys
from pathlib import Path

from konbini_demo.desk_ui import DeskPages
from konbini_demo.kiosk_ui import browser
from konbini_demo.processes import ServiceError
from konbini_demo.stack import STAFF_ID, STAFF_PASSWORD, Stack
from registry_sim.generator import DEMO_ATENA_NO
from wire.clock import jst_now

CLERK, CLERK_PASSWORD = "desk-demo-clerk", "desk-demo-password-01"  # synthetic, for the throwaway folder


def step(text: str) -> None:
    print(f"desk demo: {text}", file=sys.stderr, flush=True)


def run_desk_demo(stack: Stack, card: Path, pin: str, out: Path) -> str:
    """The whole desk story; the final ``DESK DEMO OK ...`` line."""
    url, customer_url = stack.start_desk()
    step(f"desk app on {url}, customer display on {customer_url}")
    with browser() as chromium:
        step(f"the administrator {STAFF_ID} logs in (password + TOTP) and asks for the clerk {CLERK}")
        admin = DeskPages(chromium, url, customer_url)
        admin.log_in(STAFF_ID, STAFF_PASSWORD, stack.authenticator().code())
        admin.wait_page("search")
        if f"{CLERK}: asked for" not in admin.create_staff(CLERK, "窓口 デモ", ["registrar", "counter"]):
            raise ServiceError(f"the desk did not take the request for {CLERK}")
        second, second_password, device = stack.second_admin()
        step(f"a second administrator ({second}, made with konbini-clerk bootstrap) approves it at the desk")
        approver = DeskPages(chromium, url, customer_url)
        approver.log_in(second, second_password, device.code())
        approver.wait_page("search")
        if f"{CLERK}: 承認しました" not in approver.approve_staff(CLERK, CLERK_PASSWORD):
            raise ServiceError(f"the second administrator could not approve {CLERK}")
        staff = approver.clerk.locator("#staff tbody tr").count()
        approver.close()

        step(f"{CLERK} logs in for the first time: enrols TOTP from the QR page, gets the recovery codes")
        desk = DeskPages(chromium, url, customer_url)
        desk.first_login(CLERK, CLERK_PASSWORD)
        step("finds the demo resident by ふりがな and opens the record (個人番号 masked)")
        if DEMO_ATENA_NO not in desk.search("よしだ"):
            raise ServiceError("the demo resident was not found at the desk")
        desk.open_resident(DEMO_ATENA_NO)
        step(
            "registers the card on the desk reader; the resident types the PIN twice on the customer display"
        )
        stack.insert_card(card)
        notice = desk.register_card(pin)
        if "registered" not in notice:
            raise ServiceError(f"the registration failed at the desk: {notice}")
        desk.close()

        step("the resident gets a 住民票の写し at a kiosk with that card and PIN")
        result = stack.kiosk_session(pin, out)
        printed = stack.printed(result)
        if result.returncode != 0 or not printed:
            raise ServiceError(f"kiosk session failed: {result.stderr.strip() or result.stdout.strip()}")
        verdict = stack.verify(printed[0][1])
        if verdict.returncode != 0:
            raise ServiceError(f"verification failed: {verdict.stdout.strip()} {verdict.stderr.strip()}")

        month = f"{jst_now():%Y-%m}"
        step(f"the auditor ({STAFF_ID}) downloads the review of {month} from the desk")
        pdf = admin.review_pdf(month)
        if not pdf.startswith(b"%PDF"):
            raise ServiceError("the review was not a PDF")
        report = out / f"review-{month}.pdf"
        out.mkdir(parents=True, exist_ok=True)
        report.write_bytes(pdf)
        admin.close()
    return f"DESK DEMO OK staff={staff} registered=1 report={report} certificate={printed[0][1]}"
