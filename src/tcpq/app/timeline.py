"""The "Over time" part of a run report as plain data, for report/run.py.

Which series move and which stay put, each one's range and the times it moved, and the levels of
a sparkline resampled to a width. Everything the report shows about time is decided here; the
renderer only picks glyphs (DESIGN.md: renderers never compute). Pure: a TimeSeries in, data out.
"""

import math
from collections.abc import Sequence
from enum import StrEnum

from tcpq.records import frozen
from tcpq.types import TimeSeries


class Kind(StrEnum):
    """How a sample relates to time, which decides how it is labelled and what "last" means."""

    LEVEL = "level"  # a length read at the sample (a queue)
    PER_INTERVAL = "per-interval"  # events added during the interval that ends at the sample
    CUMULATIVE = "cumulative"  # a running total since the start


@frozen
class Moving:
    """A series that changes during the run."""

    name: str
    kind: Kind
    values: list[int]
    low: int
    high: int
    # The value a full-height bar stands for: the series' own maximum, or for the accept queue
    # limit + 1 (what it holds when full), so the bar's height says how full it got.
    top: int
    first_nonzero_s: float | None  # None: never above zero (a series that only went negative)
    peak_s: float  # the first sample at `high`
    # The last sample that differs from the one before; for PER_INTERVAL the last one with any
    # events, since a count falling back to zero is the events stopping, not news of its own.
    last_s: float
    limit: int | None = None
    full: bool = False  # the accept queue went above its limit (it holds limit + 1)


@frozen
class Constant:
    """A series with the same value at every sample: a word in a summary line, not a row."""

    name: str
    kind: Kind
    value: int
    limit: int | None = None
    full: bool = False


@frozen
class Timeline:
    samples: int
    interval_s: float | None  # None without samples
    moving: list[Moving]
    constant: list[Constant]


@frozen
class Bar:
    """One glyph of a sparkline: 0 (lowest) to steps - 1 (the top, reached only at `top`)."""

    level: int
    full: bool = False


ACCEPT_QUEUE = "accept queue"


def _series(series: TimeSeries) -> list[tuple[str, Kind, list[int]]]:
    return [
        (ACCEPT_QUEUE, Kind.LEVEL, series.accept_queue),
        ("SYN queue", Kind.LEVEL, series.syn_queue),
        ("ListenDrops", Kind.PER_INTERVAL, series.listen_drops),
        ("SYN cookies", Kind.PER_INTERVAL, series.cookies_sent),
        ("SYN-ACK retrans", Kind.PER_INTERVAL, series.synack_retrans),
        ("client SYN retrans", Kind.PER_INTERVAL, series.client_syn_retrans),
        ("handshakes done", Kind.CUMULATIVE, series.handshakes),
        ("clients refused", Kind.CUMULATIVE, series.refused),
        ("clients reset", Kind.CUMULATIVE, series.reset),
        ("clients timed out", Kind.CUMULATIVE, series.timed_out),
    ]


def interval_s(t_s: Sequence[float]) -> float | None:
    """The sampling interval: the first sample is taken one interval after the start."""
    if not t_s:
        return None
    # rounded as the samplers round t_s, so 0.3 - 0.2 reads 0.1
    return round(t_s[1] - t_s[0], 6) if len(t_s) > 1 else t_s[0]


def _last_s(t_s: Sequence[float], values: Sequence[int], kind: Kind) -> float:
    if kind is Kind.PER_INTERVAL:
        return next(t for t, value in zip(reversed(t_s), reversed(values), strict=True) if value)
    changed = [t_s[i] for i in range(1, len(values)) if values[i] != values[i - 1]]
    return changed[-1]


def _moving(name: str, kind: Kind, t_s: Sequence[float], values: list[int], limit: int | None) -> Moving:
    high = max(values)
    full = limit is not None and high > limit
    return Moving(
        name=name,
        kind=kind,
        values=values,
        low=min(values),
        high=high,
        top=max(high, limit + 1) if limit is not None else high,
        first_nonzero_s=next((t for t, value in zip(t_s, values, strict=True) if value > 0), None),
        peak_s=t_s[values.index(high)],
        last_s=_last_s(t_s, values, kind),
        limit=limit,
        full=full,
    )


def timeline(series: TimeSeries, accept_queue_limit: int) -> Timeline:
    """Split the run's series into those that move and those that do not. An empty list is a
    series the run did not record (results written before it existed) and is left out."""
    moving: list[Moving] = []
    constant: list[Constant] = []
    for name, kind, values in _series(series):
        if not values:
            continue
        limit = accept_queue_limit if name == ACCEPT_QUEUE else None
        if len(set(values)) == 1:
            full = limit is not None and values[0] > limit
            constant.append(Constant(name, kind, values[0], limit, full))
        else:
            moving.append(_moving(name, kind, series.t_s, values, limit))
    return Timeline(len(series.t_s), interval_s(series.t_s), moving, constant)


def buckets(values: Sequence[int], count: int) -> list[int]:
    """`values` in at most `count` buckets of consecutive samples, each its highest sample (a peak
    is what a reader looks for: a full queue, a burst of drops), never stretched: fewer samples
    than `count` stay one a bucket. Bucket i holds samples floor(i*n/count) to floor((i+1)*n/count)."""
    n = len(values)
    if n <= count:
        return list(values)
    return [max(values[i * n // count : (i + 1) * n // count]) for i in range(count)]


def level(value: int, top: int, steps: int) -> int:
    """The bar for `value` on a scale from 0 to `top`: 0 for nothing, the highest step only at `top`
    (so it marks the peak, or a full queue), and anything above zero at least one step up."""
    if value <= 0 or top <= 0:
        return 0
    if value >= top:
        return steps - 1
    return min(max(math.ceil(value * (steps - 1) / top), 1), steps - 2)


def sparkline(line: Moving, width: int, steps: int) -> list[Bar]:
    """The bars of `line` resampled to at most `width` glyphs of `steps` heights."""
    return [
        Bar(level(value, line.top, steps), line.limit is not None and value > line.limit)
        for value in buckets(line.values, width)
    ]


def resampled(timeline: Timeline, width: int) -> bool:
    """Whether a sparkline of `width` glyphs shows fewer glyphs than samples (each its bucket's peak)."""
    return timeline.samples > width
