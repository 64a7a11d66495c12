"""Counter issuance in recovery mode, printed on the desk's printer."""

from __future__ import annotations

from aiohttp import web

from registration.desk.keys import API, PRINTER, SESSION
from registration.desk.pages.record import atena_no_of, record_page
from registration.desk.staff_calls import call, error_text, page_status
from wire.http_json import HttpError

routes = web.RouteTableDef()


@routes.post("/residents/{atena_no}/issue")
async def counter_issue(request: web.Request) -> web.Response:
    """Counter issuance (recovery mode: the server refuses it otherwise), printed on the desk's printer;
    each copy reported printed or not (a copy that did not print is voided and refunded by the server)."""
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
    for cert in issued["certificates"]:
        serial = cert["serial"]
        pdf = await request.app[API].fetch(
            f"/clerk/api/counter/certificates/{serial}/pdf", request[SESSION].token
        )
        result = await request.app[PRINTER].print_pdf(pdf, serial)
        await call(
            request, "POST", f"/clerk/api/counter/certificates/{serial}/print-report",
            body={"printed": result.printed},
        )  # fmt: skip
        (done if result.printed else failed).append(
            f"{serial}" + ("" if result.printed else f" ({result.code})")
        )
    if failed:
        message = f"not printed, voided and refunded: {', '.join(failed)}" + (
            f"; printed: {', '.join(done)}" if done else ""
        )
        return await record_page(request, atena_no, 502, error=message)
    return await record_page(request, atena_no, notice=f"交付しました printed: {', '.join(done)}")
