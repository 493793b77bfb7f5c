"""The usage chart's x-axis labels never crowd each other (issue 15); the browser test measures
their boxes, this one pins the rule for every length of series."""

import re
from datetime import date, timedelta
from itertools import pairwise

import pytest

from portal.developer.charts import bar_chart

LABEL = re.compile(r'<text class="axis" x="([0-9.]+)" y="(\d+)" text-anchor="middle">')


@pytest.mark.parametrize("days", range(1, 61))
def test_x_labels_are_at_least_four_bars_apart(days):
    series = [(date(2026, 1, 1) + timedelta(days=i), i) for i in range(days)]
    xs = [float(x) for x, _y in LABEL.findall(bar_chart(series, "t"))]
    slot = (600 - 44 - 8) / days
    assert xs and all(b - a >= 4 * slot - 0.2 for a, b in pairwise(xs))
