"""The inbox chart's geometry (web/inbox_chart.py): bars to scale, the rate line broken
where a week had nothing for the writer, and a summary in words."""

from __future__ import annotations

from parlour.services.inbox import Week
from parlour.web import inbox_chart


def test_bars_share_one_scale_and_the_rate_line_skips_weeks_without_a_rate() -> None:
    weeks = [
        Week("2026-11-02", 4, 2, 0.5, 3.0),
        Week("2026-11-09", 0, 0, None, None),
        Week("2026-11-16", 2, 2, 1.0, 1.0),
        Week("2026-11-23", 1, 0, 0.0, None),
    ]
    chart = inbox_chart.chart(weeks)
    assert chart.top == 4
    first, empty, third, last = chart.slots
    assert first.comments.height == 2 * first.replies.height == inbox_chart.BOTTOM - inbox_chart.TOP
    assert empty.comments.height == 0 and empty.rate is None
    assert third.rate is not None and third.rate[1] == inbox_chart.TOP  # 100%
    assert last.rate is not None and last.rate[1] == inbox_chart.BOTTOM  # 0%
    assert len(chart.rate_lines) == 1 and chart.rate_lines[0].count(",") == 2  # weeks 3 and 4
    assert [slot.label for slot in chart.slots] == ["11-02", "11-09", "11-16", "11-23"]
    assert chart.summary.endswith("This week: 1 comment, 0 replies, 0% answered.")


def test_no_comments_at_all_still_draws_an_empty_chart() -> None:
    chart = inbox_chart.chart([Week("2026-11-30", 0, 0, None, None)])
    assert chart.top == 1 and chart.rate_lines == [] and "no comment for you yet" in chart.summary
