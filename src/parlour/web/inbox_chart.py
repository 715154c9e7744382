"""The inbox's weekly figures as a small inline SVG chart: bars for readers' comments and
the writer's replies, a line for the reply rate. Geometry only; the template draws it
(web/templates/desk/inbox_chart.html) with a text summary for screen readers and the
figures as a table beside it. No chart library: eight weeks are a few rectangles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parlour.services.inbox import Week

WIDTH, HEIGHT = 320, 150
LEFT, RIGHT, TOP, BOTTOM = 30, 290, 10, 120  # the plot; the axes' labels sit outside it


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    height: float
    value: int


@dataclass(frozen=True, slots=True)
class Slot:
    label: str  # the week's Monday, "MM-DD"
    center: float
    comments: Bar
    replies: Bar
    rate: tuple[float, float] | None  # the reply rate's point, if the week had comments for her


@dataclass(frozen=True, slots=True)
class Chart:
    slots: list[Slot]
    rate_lines: list[str]  # polyline points, one per run of weeks with a rate
    top: int  # the count at the top of the bars' scale
    bar_width: float
    summary: str  # what the chart shows, in words (its <desc>)


def chart(weeks: Sequence[Week]) -> Chart:
    """Where each bar and point goes, for `weeks` oldest first."""
    top = max([1, *(w.comments for w in weeks), *(w.replies for w in weeks)])
    slot = (RIGHT - LEFT) / max(len(weeks), 1)
    bar = slot * 0.32
    span = BOTTOM - TOP

    def bar_at(x: float, value: int) -> Bar:
        height = span * value / top
        return Bar(round(x, 1), round(BOTTOM - height, 1), round(height, 1), value)

    slots: list[Slot] = []
    runs: list[list[str]] = [[]]
    for i, week in enumerate(weeks):
        center = LEFT + slot * (i + 0.5)
        point = None
        if week.reply_rate is not None:
            point = (round(center, 1), round(BOTTOM - span * week.reply_rate, 1))
            runs[-1].append(f"{point[0]},{point[1]}")
        elif runs[-1]:
            runs.append([])
        slots.append(
            Slot(week.start[5:], round(center, 1), bar_at(center - bar - 1, week.comments),
                 bar_at(center + 1, week.replies), point)
        )  # fmt: skip
    return Chart(slots, [" ".join(run) for run in runs if len(run) > 1], top, round(bar, 1), _summary(weeks))


def _summary(weeks: Sequence[Week]) -> str:
    if not weeks:
        return "No weeks to show."
    comments = sum(w.comments for w in weeks)
    replies = sum(w.replies for w in weeks)
    last = weeks[-1]
    rate = (
        "no comment for you yet" if last.reply_rate is None else f"{round(100 * last.reply_rate)}% answered"
    )
    return (
        f"Weeks of {weeks[0].start} to {weeks[-1].start}: {_n(comments, 'comment')} by readers and "
        f"{_n(replies, 'reply', 'replies')} by you in all. This week: {_n(last.comments, 'comment')}, "
        f"{_n(last.replies, 'reply', 'replies')}, {rate}."
    )


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"
