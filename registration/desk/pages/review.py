"""The monthly audit review (the auditor role): its figures, its PDF, marking it reviewed."""

from __future__ import annotations

from aiohttp import web

from registration.desk.keys import API, SESSION
from registration.desk.pages.needs_role import needs_role
from registration.desk.rendering import page
from registration.desk.staff_calls import call, error_text
from wire.clock import jst_now
from wire.http_json import HttpError

routes = web.RouteTableDef()


@routes.get("/review")
async def review(request: web.Request) -> web.Response:
    needs_role(request, "auditor")
    month = request.query.get("month") or f"{jst_now():%Y-%m}"
    try:
        figures = await call(request, "GET", "/ops/api/audit/review", query={"month": month})
    except HttpError as exc:
        return page(request, "review.html", 400, month=month, figures=None, error=error_text(exc), notice="")
    return page(request, "review.html", month=month, figures=figures, notice="")


@routes.get("/review.pdf")
async def review_pdf(request: web.Request) -> web.Response:
    needs_role(request, "auditor")
    month = request.query.get("month", "")
    pdf = await request.app[API].fetch(
        "/ops/api/audit/review", request[SESSION].token, query={"month": month, "format": "pdf"}
    )
    disposition = f'attachment; filename="audit-review-{month}.pdf"'
    return web.Response(
        body=pdf, content_type="application/pdf", headers={"Content-Disposition": disposition}
    )


@routes.post("/review")
async def mark_reviewed(request: web.Request) -> web.Response:
    needs_role(request, "auditor")
    form = await request.post()
    month, comment = str(form.get("month", "")), str(form.get("comment", ""))
    try:
        await call(request, "POST", "/clerk/api/audit/reviews", body={"month": month, "comment": comment})
    except HttpError as exc:
        figures = await call(request, "GET", "/ops/api/audit/review", query={"month": month})
        return page(
            request, "review.html", 400, month=month, figures=figures, error=error_text(exc), notice=""
        )
    figures = await call(request, "GET", "/ops/api/audit/review", query={"month": month})
    return page(request, "review.html", month=month, figures=figures, notice=f"{month}: reviewed")
