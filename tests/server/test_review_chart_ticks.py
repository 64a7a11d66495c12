"""The review PDF's count charts tick in whole numbers: no half a certificate or half a failed login."""

from __future__ import annotations

import pytest
from reportlab.graphics.charts.barcharts import VerticalBarChart

from issuance_server.audit.review_report import _whole_counts


@pytest.mark.parametrize("peak", [0, 1, 3, 7, 12, 49, 120, 999, 123456])
def test_a_count_axis_ticks_whole_numbers_from_zero_above_the_peak(peak: int) -> None:
    chart = VerticalBarChart()
    chart.data = [[peak, 0]]
    _whole_counts(chart.valueAxis, peak)
    chart.valueAxis.configure(chart.data)
    ticks = list(chart.valueAxis._tickValues)
    assert ticks[0] == 0 and ticks[-1] >= peak and 2 <= len(ticks) <= 6
    assert all(float(t).is_integer() for t in ticks)
    assert chart.valueAxis.labelTextFormat == "%d"
