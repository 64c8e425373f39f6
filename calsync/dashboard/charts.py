"""Geometry of the server-rendered SVGs: a calendar's week timeline and the overview's sync chart.

Positions are SVG attributes in a fixed viewBox (the CSS scales the picture), never inline styles: the dashboard's
Content-Security-Policy allows no inline style or script. Every shape carries a <title>, and every picture has a
table beside it with the same facts, so nothing is only visible as a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from calsync.dashboard.extensions import EventBadge
from calsync.dashboard.queries import HourBucket

TIMELINE_WIDTH = 960
TIMELINE_LABEL_HEIGHT = 28
LANE_HEIGHT = 26
LANE_GAP = 4
MIN_BAR_WIDTH = 3.0
# A bar wide enough for its name inside (about 6.5 px per character at the CSS's 11 px font).
CHARS_PER_PX = 1 / 6.5
# A label beside its bar (a week is 960 px: an hour is under 6 px) is at most this long.
LABEL_MAX_CHARS = 24


@dataclass(frozen=True)
class TimelineBar:
    object_id: str
    name: str
    start: datetime
    end: datetime
    meeting_url: str | None
    meeting_platform: str | None
    badges: list[EventBadge]
    lane: int
    x: float
    width: float
    y: float
    label: str  # the name, shortened to LABEL_MAX_CHARS where it does not fit inside the bar
    label_inside: bool
    label_x: float
    label_anchor: str  # SVG text-anchor: "start", or "end" for a label left of its bar


@dataclass(frozen=True)
class DayTick:
    x: float
    label: str


@dataclass
class Timeline:
    start: datetime
    end: datetime
    bars: list[TimelineBar] = field(default_factory=list)
    days: list[DayTick] = field(default_factory=list)
    lanes: int = 0
    now_x: float = 0.0
    width: int = TIMELINE_WIDTH

    @property
    def height(self) -> int:
        return TIMELINE_LABEL_HEIGHT + max(self.lanes, 1) * (LANE_HEIGHT + LANE_GAP) + LANE_GAP


def timeline(
    events: Sequence[Any],
    badges: dict[int, list[EventBadge]],
    start: datetime,
    days: int,
    now: datetime,
    *,
    tick_hours: int = 24,
) -> Timeline:
    """Events (rows with id, object_id, name, start_time, end_time, meeting_*) as bars over `days` from `start`,
    with a tick every `tick_hours` (a day's ticks are labelled with the date, others with the hour). Events that
    would overlap on screen (their bars or labels) go to separate lanes (greedy, in start order: the first lane
    free where the event's bar or label begins)."""
    end = start + timedelta(days=days)
    span = (end - start).total_seconds()
    result = Timeline(start=start, end=end)

    def x_of(moment: datetime) -> float:
        seconds = (min(max(moment, start), end) - start).total_seconds()
        return round(seconds / span * TIMELINE_WIDTH, 2)

    midnight = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for index in range((days + 1) * 24 // tick_hours + 1):
        tick = midnight + timedelta(hours=index * tick_hours)
        if start <= tick < end:
            label = tick.strftime("%a %d %b") if tick.hour == 0 else tick.strftime("%H:00")
            result.days.append(DayTick(x_of(tick), label))
    result.now_x = x_of(now)
    # Lanes are assigned by what a bar occupies on screen, its label included, so that labels never overlap.
    lane_ends: list[float] = []
    for event in sorted(events, key=lambda e: (e.start_time, e.end_time, e.id)):
        x = x_of(event.start_time)
        width = max(x_of(event.end_time) - x, MIN_BAR_WIDTH)
        name = event.name or "(no title)"
        label, inside = _label(name, width)
        label_px = len(label) / CHARS_PER_PX
        if inside:
            label_x, anchor, left, right = x + 4, "start", x, x + width
        elif x + width + 4 + label_px <= TIMELINE_WIDTH:
            label_x, anchor, left, right = x + width + 4, "start", x, x + width + 8 + label_px
        else:  # no room on the right: the label goes to the bar's left
            label_x, anchor, left, right = x - 4, "end", x - 8 - label_px, x + width
        lane = next((i for i, lane_end in enumerate(lane_ends) if lane_end <= left), None)
        if lane is None:
            lane = len(lane_ends)
            lane_ends.append(right)
        else:
            lane_ends[lane] = right
        result.bars.append(
            TimelineBar(
                object_id=event.object_id,
                name=name,
                start=event.start_time,
                end=event.end_time,
                meeting_url=event.meeting_url,
                meeting_platform=event.meeting_platform,
                badges=badges.get(event.id, []),
                lane=lane,
                x=x,
                width=round(width, 2),
                y=TIMELINE_LABEL_HEIGHT + lane * (LANE_HEIGHT + LANE_GAP) + LANE_GAP,
                label=label,
                label_inside=inside,
                label_x=round(label_x, 2),
                label_anchor=anchor,
            )
        )
    result.lanes = len(lane_ends)
    return result


def _label(name: str, width: float) -> tuple[str, bool]:
    """(label, inside): the whole name inside the bar if it fits, else a label of at most LABEL_MAX_CHARS beside it."""
    if len(name) <= int((width - 8) * CHARS_PER_PX):
        return name, True
    return (name if len(name) <= LABEL_MAX_CHARS else name[: LABEL_MAX_CHARS - 1] + "…"), False


CHART_WIDTH = 720
CHART_HEIGHT = 160
CHART_TOP = 10
CHART_BOTTOM = 24  # room for the hour labels
CHART_LEFT = 36  # room for the scale


@dataclass(frozen=True)
class ChartBar:
    bucket: HourBucket
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    label: str  # the hour label under every third bar ("" otherwise)
    hours: str  # "14:00-15:00"


@dataclass
class SyncChart:
    bars: list[ChartBar]
    scale_max: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_LEFT
    baseline: int = CHART_HEIGHT - CHART_BOTTOM
    top: int = CHART_TOP

    @property
    def succeeded(self) -> int:
        return sum(bar.bucket.succeeded for bar in self.bars)

    @property
    def failed(self) -> int:
        return sum(bar.bucket.failed for bar in self.bars)


def _nice_max(value: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def sync_chart(buckets: Sequence[HourBucket]) -> SyncChart:
    """Stacked bars per hour: succeeded at the bottom, failed on top."""
    scale_max = _nice_max(max((b.total for b in buckets), default=0))
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(buckets), 1)
    baseline = CHART_HEIGHT - CHART_BOTTOM
    bars = []
    for index, bucket in enumerate(buckets):
        ok_height = round(bucket.succeeded / scale_max * plot_height, 2)
        failed_height = round(bucket.failed / scale_max * plot_height, 2)
        bars.append(
            ChartBar(
                bucket=bucket,
                x=round(CHART_LEFT + index * slot + 1, 2),
                width=round(slot - 2, 2),
                ok_y=round(baseline - ok_height, 2),
                ok_height=ok_height,
                failed_y=round(baseline - ok_height - failed_height, 2),
                failed_height=failed_height,
                label=bucket.start.strftime("%H:00") if index % 3 == 0 else "",
                hours=f"{bucket.start:%H:00}-{bucket.start + timedelta(hours=1):%H:00}",
            )
        )
    return SyncChart(bars=bars, scale_max=scale_max)
