"""Driving the desk in headless Chromium as a clerk and a resident would (the clerk's pages and the
customer display): for ``konbini-demo --desk`` and the end-to-end tests."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from konbini_demo.authenticator import Authenticator
from konbini_demo.kiosk_ui import axe_violations


class DeskPages:
    """One desk: the clerk's page (``clerk``) and the customer display facing the resident (``customer``)."""

    def __init__(self, b: Browser, url: str, customer_url: str, with_axe: bool = False) -> None:
        # bypass_csp only so that axe-core can be injected; the pages themselves run under their CSP
        self.context = b.new_context(bypass_csp=with_axe)
        self.clerk: Page = self.context.new_page()
        self.customer: Page = b.new_context(bypass_csp=with_axe).new_page()
        self.url, self.customer_url = url, customer_url

    def close(self) -> None:
        self.context.close()
        self.customer.context.close()

    def wait_page(self, name: str, timeout_ms: float = 30_000) -> None:
        self.clerk.wait_for_selector(f"main[data-page={name}]", timeout=timeout_ms)

    def submit(self, form: str) -> None:
        self.clerk.click(f"{form} button[type=submit]")

    def log_in(self, staff_id: str, password: str, code: str) -> None:
        self.clerk.goto(f"{self.url}/login")
        self.clerk.fill("#staff_id", staff_id)
        self.clerk.fill("#password", password)
        self.clerk.fill("#code", code)
        self.submit("form[action='/login']")

    def first_login(self, staff_id: str, password: str) -> tuple[Authenticator, str]:
        """Log in without a code: enrol from the QR page's key, confirm; (the authenticator, the codes)."""
        self.log_in(staff_id, password, "")
        self.wait_page("enrol")
        device = Authenticator(self.clerk.inner_text("#totp-key").strip())
        self.clerk.fill("#code", device.code())
        self.submit("form[action='/enrol/confirm']")
        self.wait_page("recovery-codes")
        codes = self.clerk.inner_text("#recovery-codes")
        self.clerk.click("text=窓口業務へ")
        self.wait_page("search")
        return device, codes

    def search(self, name: str) -> str:
        """A search by name as a clerk types it (kana, kanji or alphabet); the results' text."""
        self.clerk.goto(f"{self.url}/")
        self.clerk.fill("#name", name)
        self.submit("form[action='/search']")
        self.clerk.wait_for_selector("#results")
        return self.clerk.inner_text("#results")

    def open_resident(self, atena_no: str) -> None:
        self.clerk.click(f"a[href='/residents/{atena_no}']")
        self.wait_page("resident")

    def unmask(self, reason: str) -> str:
        self.clerk.fill("#reason", reason)
        self.submit("form[action$='/mynumber']")
        self.wait_page("resident")
        return self.clerk.inner_text("#mynumber").strip()

    def type_pin(self, pin: str, then: str | None) -> None:
        """The resident types on the customer display's keys; ``then``: the step to wait for."""
        try:
            self.customer.wait_for_selector("#pin-form:not([hidden])")
        except PlaywrightTimeout:
            step = self.customer.get_attribute("main", "data-step")
            said = self.clerk.locator(".notice, .error").all_inner_texts()
            raise AssertionError(
                f"the display asks no PIN (step {step!r}); the clerk's page says {said}"
            ) from None
        for digit in pin:
            self.customer.click(f"[data-key='{digit}']")
        self.customer.click("#pin-form button[type=submit]")
        if then:
            self.customer.wait_for_selector(f"main[data-step={then}]")

    def start_registration(self) -> None:
        """The clerk asks for the card and PIN; the answer comes once the resident typed a PIN twice."""
        if self.customer.url != f"{self.customer_url}/":
            self.customer.goto(self.customer_url)
        self.clerk.click("#register-card", no_wait_after=True)
        self.customer.wait_for_selector("main[data-step=first]")

    def register_card(self, pin: str, identity_pin: str | None = None) -> str:
        """A registration with the resident typing ``pin`` twice, then the card's identity PIN (default:
        ``pin``, as the demo's cards have it); the clerk's notice."""
        self.start_registration()
        self.type_pin(pin, "repeat")
        self.type_pin(pin, "identity")
        self.type_pin(identity_pin or pin, None)
        try:
            self.clerk.wait_for_selector(".notice, .error", timeout=60_000)
        except PlaywrightTimeout:
            shown = f"{self.clerk.inner_text('main')} / customer display: {self.customer.inner_text('main')}"
            raise PlaywrightTimeout(
                f"no outcome on the clerk's page at {self.clerk.url}: {shown[:500]}"
            ) from None
        return self.clerk.inner_text(".notice, .error")

    def create_staff(self, staff_id: str, name: str, roles: list[str]) -> str:
        """Ask for a new account (another administrator approves it); the page's text."""
        self.clerk.goto(f"{self.url}/admin/staff")
        self.wait_page("staff")
        self.clerk.fill("#new-staff-id", staff_id)
        self.clerk.fill("#new-name", name)
        for role in roles:
            self.clerk.check(f"#new-staff input[name=roles][value={role}]")
        self.submit("#new-staff")
        self.wait_page("staff")
        return self.clerk.inner_text("main")

    def approve_staff(self, staff_id: str, password: str | None = None) -> str:
        """Approve what another administrator asked for ``staff_id`` (a new account: with its temporary
        password); the page's text."""
        self.clerk.goto(f"{self.url}/admin/staff")
        self.wait_page("staff")
        if password is not None:
            self.clerk.fill(f"#temp-{staff_id}", password)
        self.submit(f"#approve-{staff_id}")
        self.wait_page("staff")
        return self.clerk.inner_text("main")

    def review_pdf(self, month: str) -> bytes:
        """The month's review as the auditor downloads it from the review page."""
        self.clerk.goto(f"{self.url}/review?month={month}")
        self.wait_page("review")
        return self.context.request.get(f"{self.url}/review.pdf?month={month}").body()

    def axe_violations(self, page: Page | None = None) -> list[dict[str, Any]]:
        """axe-core's WCAG 2.1 AA violations of any impact on the clerk's page (or ``page``) as it is now."""
        return axe_violations(page or self.clerk)

    def log_out(self) -> None:
        self.clerk.click("header form[action='/logout'] button")
        self.wait_page("login")
