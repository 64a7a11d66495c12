"""The soak's per-minute figures (``bench/soak.py --csv``) as a picture: the server's RSS and the issue
step's p99 against time, drawn with reportlab's chart library (already a dependency) as SVG.

    .venv/bin/python bench/soak_plot.py soak.csv docs/soak.svg
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

SERIES = (
    ("rss_mb", "server RSS, MB", colors.HexColor("#1f5fa8")),
    ("issue_p99", "issue p99, ms", colors.HexColor("#d9822b")),
)


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def chart(
    rows: list[dict[str, str]], column: str, label: str, colour: colors.Color, y: float
) -> list[object]:
    points = [(float(r["minute"]), v) for r in rows if (v := number(r.get(column, ""))) is not None]
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 50, y, 520, 150
    plot.data = [points or [(0.0, 0.0)]]
    plot.lines[0].strokeColor = colour
    plot.lines[0].strokeWidth = 1.5
    plot.xValueAxis.valueMin = 0
    plot.yValueAxis.valueMin = 0
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 7
    title = String(50, y + 158, f"{label} against minutes of load", fontSize=9)
    return [plot, title]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("svg", type=Path)
    args = parser.parse_args()
    with args.csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    drawing = Drawing(600, 420)
    for i, (column, label, colour) in enumerate(SERIES):
        for shape in chart(rows, column, label, colour, 230 - 200 * i):
            drawing.add(shape)
    legend = Legend()
    legend.x, legend.y, legend.fontSize = 420, 410, 8
    legend.colorNamePairs = [(colour, label) for _, label, colour in SERIES]
    drawing.add(legend)
    renderSVG.drawToFile(drawing, str(args.svg))
    print(f"wrote {args.svg} ({len(rows)} minutes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
