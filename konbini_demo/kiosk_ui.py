"""Driving the kiosk's touchscreen page in headless Chromium (Debian's ``/usr/bin/chromium`` through
Playwright; no browser download), as a resident would: for ``konbini-demo --kiosk-ui``, the end-to-end
tests and the bench. Also runs axe-core on a screen and lists the characters a screen shows."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[1] / ".cache/npm/node_modules/axe-core/axe.min.js"
WCAG21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")  # axe-core's tags for the WCAG 2.1 AA rule set
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of the WCAG 2.1 A and AA rules (JIS X 8341-3 level AA), of any impact, on
    ``page`` as it is now (its context must bypass the CSP for the script to be injected)."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async (tags) => await axe.run(document,
             {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
        list(WCAG21_AA),
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


class KioskScreen:
    """One touchscreen (a browser page on the kiosk app's URL) and what a resident does on it."""

    def __init__(self, b: Browser, url: str, width: int = 1280, height: int = 800) -> None:
        # bypass_csp: only so that the tests can inject axe-core; the page itself runs under its CSP
        self.context = b.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        self.page: Page = self.context.new_page()
        self.url = url
        self._since = -1
        self.page.goto(url)
        self.wait_step("language")

    def close(self) -> None:
        self.context.close()

    def wait_step(self, *steps: str, timeout_s: float = 30, settled: bool = True) -> str:
        """The screen once it shows one of ``steps`` (``settled``: its work done), and, after a tap, a state
        newer than the one the tap was made on; returns the step shown."""
        since, self._since = self._since, -1
        self.page.wait_for_function(
            """([steps, since, settled]) => { const m = document.querySelector('main');
                 return m && steps.includes(m.dataset.step) && (!settled || m.dataset.busy === '0')
                        && Number(m.dataset.version) > since; }""",
            arg=[list(steps), since, settled],
            timeout=timeout_s * 1000,
        )
        return str(self.page.get_attribute("main", "data-step"))

    def version(self) -> int:
        return int(self.page.get_attribute("main", "data-version") or -1)

    def tap(self, selector: str) -> None:
        self._since = self.version()
        self.page.click(selector)

    def choose_language(self, language: str) -> None:
        self.tap(f"#start-{language}")

    def type_pin(self, pin: str) -> None:
        for digit in pin:
            self.page.click(f"#digit-{digit}")
        self.tap("#pin-ok")

    def message(self) -> str:
        box = self.page.locator("#message")
        return "" if box.is_hidden() else box.inner_text()

    def heading(self) -> str:
        return self.page.locator("#step-heading").inner_text()

    def state(self) -> dict[str, Any]:
        return dict(self.page.evaluate("async () => (await fetch('/api/state')).json()"))

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)

    def axe_violations(self) -> list[dict[str, Any]]:
        return axe_violations(self.page)

    def shown_text(self) -> str:
        """Every character on the screen (text and accessible labels), for the glyph check."""
        return str(
            self.page.evaluate(
                "() => document.body.innerText + ' ' + [...document.querySelectorAll('[aria-label],[alt]')]"
                ".map(e => (e.getAttribute('aria-label') || '') + (e.getAttribute('alt') || '')).join(' ')"
            )
        )

    def smallest_target(self) -> dict[str, Any]:
        """The smallest visible button or choice on the screen (CSS px)."""
        return dict(
            self.page.evaluate(
                """() => [...document.querySelectorAll('button, .choice')]
                  .filter(e => e.offsetParent !== null)
                  .map(e => ({id: e.id || e.textContent.slice(0, 20), w: e.getBoundingClientRect().width,
                              h: e.getBoundingClientRect().height}))
                  .reduce((a, b) => (Math.min(b.w, b.h) < Math.min(a.w, a.h) ? b : a), {w: 1e9, h: 1e9})"""
            )
        )

    def smallest_font_px(self) -> float:
        return float(
            self.page.evaluate(
                """() => Math.min(...[...document.querySelectorAll('body *')]
                  .filter(e => e.offsetParent !== null && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
                  .map(e => parseFloat(getComputedStyle(e).fontSize)))"""
            )
        )


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
