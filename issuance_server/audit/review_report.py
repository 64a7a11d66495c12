"""The month's review as a PDF (``konbini-ops audit-report --pdf``): the figures of
:func:`issuance_server.audit.review.review` as tables, two charts drawn by reportlab's chart library
(issuances per day and channel, failed logins per day), the anomalies with the audit rows behind each,
and whether and by whom the month was reviewed."""

from __future__ import annotations

import io
import math
from datetime import timedelta
from typing import Any

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from issuance_server.audit.review import month_range
from issuance_server.certificates.fonts import IPAEX_GOTHIC, font_file
from wire.kiosk_api import Channel

FONT = "KB-Review-Gothic"
CHANNEL_COLOURS: dict[str, colors.Color] = {
    Channel.KIOSK: colors.HexColor("#1f5fa8"),
    Channel.COUNTER: colors.HexColor("#d9822b"),
}


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(font_file(IPAEX_GOTHIC))))
    return FONT


def _days(month: str) -> list[str]:
    start, end = month_range(month)
    first, n = start.date(), (end - start).days
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def _bar_chart(title: str, days: list[str], series: dict[str, list[int]], font: str) -> Drawing:
    drawing = Drawing(170 * mm, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 12 * mm, 10 * mm, 150 * mm, 42 * mm
    chart.data = [values for values in series.values()] or [[0] * len(days)]
    chart.categoryAxis.categoryNames = [d[-2:] for d in days]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    _whole_counts(chart.valueAxis, max((max(v, default=0) for v in chart.data), default=0))
    chart.groupSpacing = 1
    for i, name in enumerate(series):
        chart.bars[i].fillColor = CHANNEL_COLOURS.get(name, colors.HexColor("#b03a2e"))
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    drawing.add(String(12 * mm, 56 * mm, title, fontName=font, fontSize=9))
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = 130 * mm, 58 * mm
        legend.fontName, legend.fontSize = font, 7
        legend.colorNamePairs = [(CHANNEL_COLOURS.get(n, colors.grey), n) for n in series]
        drawing.add(legend)
    return drawing


def _whole_counts(axis: Any, peak: int, ticks: int = 5) -> None:
    """A count axis from 0 up to at least ``peak`` with whole-number ticks (about ``ticks`` of them, a step
    of 1, 2 or 5 times a power of ten): never 0.5 of a certificate."""
    step = next(m * 10**e for e in range(12) for m in (1, 2, 5) if peak <= m * 10**e * ticks)
    axis.valueMin = 0
    axis.valueStep = step
    axis.valueMax = step * max(1, math.ceil(peak / step))
    axis.labelTextFormat = "%d"


def _table(rows: list[list[Any]], font: str) -> Table:
    table = Table([[str(c) for c in row] for row in rows], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ]
        )
    )
    return table


def report_pdf(figures: dict[str, Any], municipality: str, reviewed: dict[str, Any] | None) -> bytes:
    """The PDF of one month's review (``figures`` from :func:`review`)."""
    font = _font()
    h1 = ParagraphStyle("h1", fontName=font, fontSize=15, leading=20)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=11, leading=16, spaceBefore=8)
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=12)
    month = figures["month"]
    days = _days(month)
    issued = figures["issuances"]
    channels = sorted(issued["by_channel"]) or [Channel.KIOSK.value]
    per_channel = {c: [issued["by_day"].get(d, {}).get(c, 0) for d in days] for c in channels}
    failed, views, late = (
        figures[k]["by_staff"] for k in ("failed_logins", "mynumber_views", "outside_office_hours")
    )
    staff_rows: list[list[Any]] = [["staff", "failed logins", "個人番号 views", "outside office hours"]]
    for who in sorted(set(failed) | set(views) | set(late)):
        staff_rows.append([who, failed.get(who, 0), views.get(who, 0), late.get(who, 0)])
    mode_rows: list[list[Any]] = [["seq", "at (JST)", "by", "from → to", "reason"]]
    for m in figures["mode_switches"]:
        mode_rows.append([m["seq"], m["at"], m["actor"], f"{m['from']} → {m['to']}", m["reason"][:60]])
    story: list[Any] = [
        Paragraph(f"{municipality} 操作ログ月次点検報告 {month}", h1),
        Paragraph(
            f"audit rows {figures['rows']:,}; issuances {issued['total']:,}"
            f" ({', '.join(f'{c} {n:,}' for c, n in sorted(issued['by_channel'].items())) or 'none'});"
            f" at kiosks by credential"
            f" ({', '.join(f'{f} {n:,}' for f, n in issued.get('kiosk_by_form', {}).items()) or 'none'});"
            f" failed logins {figures['failed_logins']['total']} ({figures['failed_logins']['lockouts']} lockouts);"
            f" PIN locks {figures['pin_locks']['total']}; print guard alarms {figures['print_guard']['total']};"
            f" voids {figures['voids']['total']};"
            f" refunds {figures['refunds']['total']} ({figures['refunds']['yen']:,} yen);"
            f" mode switches {len(figures['mode_switches'])}; anomalies {len(figures['anomalies'])}",
            body,
        ),
        Spacer(1, 4 * mm),
        _bar_chart("交付件数（日別・チャネル別） issuances per day", days, per_channel, font),
        _bar_chart(
            "ログイン失敗（日別） failed logins per day",
            days,
            {"failed": [figures["failed_logins"]["by_day"].get(d, 0) for d in days]},
            font,
        ),
        Paragraph("職員別 per staff member", h2),
        _table(staff_rows, font),
        Paragraph("運用モード切替 mode switches", h2),
        _table(mode_rows, font),
        Paragraph("異常 anomalies (with the audit rows behind each)", h2),
        _table(
            [["rule", "what", "audit rows (seq)"]]
            + [[a["rule"], a["what"], _seqs(a["seqs"])] for a in figures["anomalies"]],
            font,
        ),
        Paragraph("点検 review", h2),
        Paragraph(
            f"reviewed by {reviewed['reviewed_by']} at {reviewed['reviewed_at']}: {reviewed['comment']}"
            if reviewed
            else "not reviewed yet",
            body,
        ),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm,
        title=f"audit review {month}", author=municipality,
    )  # fmt: skip
    doc.build(story)
    return out.getvalue()


def _seqs(seqs: list[int]) -> str:
    shown = ", ".join(str(s) for s in seqs[:12])
    return shown + (f" … ({len(seqs)} rows)" if len(seqs) > 12 else "")
