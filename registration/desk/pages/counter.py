"""Counter issuance in recovery mode, printed on the desk's printer."""

from __future__ import annotations

import logging

from aiohttp import web

from registration.desk.keys import API, ISSUING_KEY, PRINTER, SESSION
from registration.desk.pages.record import atena_no_of, record_page
from registration.desk.staff_calls import call, error_text, page_status
from wire.http_json import HttpError
from wire.print_guard import GuardRefused, check_sheets, desk_credential_sha256

log = logging.getLogger("konbini.desk")

routes = web.RouteTableDef()


@routes.post("/residents/{atena_no}/issue")
async def counter_issue(request: web.Request) -> web.Response:
    """Counter issuance (recovery mode: the server refuses it otherwise), printed on the desk's printer;
    each copy reported printed or not (a copy that did not print is voided and refunded by the server).
    Each copy's sheets are checked first (:mod:`wire.print_guard`, bound to this clerk's session): one the
    guard refuses is not printed, and the server voids, refunds and alarms it."""
    atena_no = atena_no_of(request)
    form = await request.post()
    try:
        copies = int(str(form.get("copies", "1")))
    except ValueError:
        copies = 0
    body = {"atena_no": atena_no, "kind": str(form.get("kind", "")), "copies": copies}
    try:
        issued = await call(request, "POST", "/clerk/api/counter/certificates", body=body)
    except HttpError as exc:
        return await record_page(request, atena_no, page_status(exc), error=error_text(exc))
    done: list[str] = []
    failed: list[str] = []
    stopped: list[str] = []
    token = request[SESSION].token
    for cert in issued["certificates"]:
        serial = cert["serial"]
        report = f"/clerk/api/counter/certificates/{serial}/print-report"
        pdf = await request.app[API].fetch(f"/clerk/api/counter/certificates/{serial}/pdf", token)
        try:
            check_sheets(pdf, serial, desk_credential_sha256(token), request.app[ISSUING_KEY])
        except GuardRefused as refused:
            log.warning("print guard stopped counter certificate %s: %s", serial, refused)
            guard = {"finding": refused.finding.value, "sheet": refused.sheet}
            await call(request, "POST", report, body={"printed": False, "guard": guard})
            stopped.append(f"{serial} ({refused.finding.value})")
            continue
        result = await request.app[PRINTER].print_pdf(pdf, serial)
        await call(request, "POST", report, body={"printed": result.printed})
        (done if result.printed else failed).append(
            f"{serial}" + ("" if result.printed else f" ({result.code})")
        )
    if failed or stopped:
        parts = [f"not printed, voided and refunded: {', '.join(failed)}"] if failed else []
        if stopped:
            parts.append(
                "印刷ガードが停止（証明書が一致しません。印刷せず無効・返金し、警報を記録しました。システム管理者へ"
                f"連絡してください） the print guard stopped, voided and refunded: {', '.join(stopped)}"
            )
        parts += [f"printed: {', '.join(done)}"] if done else []
        return await record_page(request, atena_no, 502, error="; ".join(parts))
    return await record_page(request, atena_no, notice=f"交付しました printed: {', '.join(done)}")
