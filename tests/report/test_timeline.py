"""app/timeline.py: which series move, their range and times, and sparkline levels.

Every expected value below is worked out by hand from the series written in the test.
"""

from tcpq.app.timeline import (
    Bar,
    Constant,
    Kind,
    Moving,
    buckets,
    interval_s,
    level,
    resampled,
    sparkline,
    timeline,
)
from tcpq.types import TimeSeries

T = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def series(**kw: list[int]) -> TimeSeries:
    fields: dict[str, list[int]] = {
        "accept_queue": [0] * 6,
        "syn_queue": [0] * 6,
        "listen_drops": [0] * 6,
        "handshakes": [0] * 6,
        "cookies_sent": [0] * 6,
        "synack_retrans": [0] * 6,
    }
    fields.update(kw)
    return TimeSeries(t_s=list(T), **fields)


def test_constant_series_are_summarised_not_drawn() -> None:
    result = timeline(series(), accept_queue_limit=4)
    assert result.moving == []
    assert [(line.name, line.value) for line in result.constant] == [
        ("accept queue", 0),
        ("SYN queue", 0),
        ("ListenDrops", 0),
        ("SYN cookies", 0),
        ("SYN-ACK retrans", 0),
        ("handshakes done", 0),
    ]
    assert result.samples == 6 and result.interval_s == 0.1


def test_empty_lists_are_not_recorded_and_left_out() -> None:
    zeros = [0] * 6
    old = TimeSeries(t_s=list(T), accept_queue=zeros, syn_queue=zeros, listen_drops=zeros, handshakes=zeros)
    names = [line.name for line in timeline(old, accept_queue_limit=4).constant]
    assert names == ["accept queue", "SYN queue", "ListenDrops", "handshakes done"]


def test_a_constant_full_accept_queue_says_so() -> None:
    # backlog 4: the queue holds 5 when full (limit + 1)
    result = timeline(series(accept_queue=[5] * 6), accept_queue_limit=4)
    assert result.constant[0] == Constant("accept queue", Kind.LEVEL, 5, limit=4, full=True)
    assert timeline(series(accept_queue=[4] * 6), accept_queue_limit=4).constant[0].full is False


def test_a_level_series_range_and_times() -> None:
    # 0 0 3 5 5 2: first above 0 at 0.3, max 5 first at 0.4, last change (5 -> 2) at 0.6
    result = timeline(series(syn_queue=[0, 0, 3, 5, 5, 2]), accept_queue_limit=4)
    assert result.moving == [
        Moving(
            name="SYN queue",
            kind=Kind.LEVEL,
            values=[0, 0, 3, 5, 5, 2],
            low=0,
            high=5,
            top=5,
            first_nonzero_s=0.3,
            peak_s=0.4,
            last_s=0.6,
        )
    ]
    assert "SYN queue" not in [line.name for line in result.constant]


def test_a_per_interval_count_ends_at_its_last_events() -> None:
    # 4 0 0 1 0 0: events stop after 0.4; the fall back to 0 at 0.5 is not a change worth naming
    line = timeline(series(listen_drops=[4, 0, 0, 1, 0, 0]), accept_queue_limit=4).moving[0]
    assert (line.kind, line.low, line.high) == (Kind.PER_INTERVAL, 0, 4)
    assert (line.first_nonzero_s, line.peak_s, line.last_s) == (0.1, 0.1, 0.4)


def test_a_cumulative_series_last_change_is_its_last_increase() -> None:
    line = timeline(series(handshakes=[50, 100, 150, 150, 150, 150]), accept_queue_limit=4).moving[0]
    assert (line.kind, line.low, line.high) == (Kind.CUMULATIVE, 50, 150)
    assert (line.first_nonzero_s, line.peak_s, line.last_s) == (0.1, 0.3, 0.3)


def test_the_accept_queue_is_scaled_to_what_it_holds_when_full() -> None:
    # limit 4: full is 5 (limit + 1), so a peak of 3 is not drawn as a full bar
    line = timeline(series(accept_queue=[0, 1, 3, 0, 0, 0]), accept_queue_limit=4).moving[0]
    assert (line.top, line.limit, line.full) == (5, 4, False)
    full = timeline(series(accept_queue=[0, 2, 5, 5, 5, 5]), accept_queue_limit=4).moving[0]
    assert (full.high, full.top, full.full, full.peak_s, full.last_s) == (5, 5, True, 0.3, 0.3)


def test_a_series_that_rises_above_a_queue_limit_scales_to_itself() -> None:
    # a lab sample can read past the limit (limit 2, read 7): the scale follows the data
    line = timeline(series(accept_queue=[0, 7, 0, 0, 0, 0]), accept_queue_limit=2).moving[0]
    assert (line.top, line.full) == (7, True)


def test_interval_from_the_first_two_samples_or_the_only_one() -> None:
    assert interval_s([0.25, 0.5, 0.75]) == 0.25
    assert interval_s([0.2, 0.3]) == 0.1  # not 0.09999999999999998
    assert interval_s([1.0]) == 1.0
    assert interval_s([]) is None
    none = timeline(TimeSeries([], [], [], [], []), accept_queue_limit=4)
    assert (none.samples, none.interval_s, none.moving, none.constant) == (0, None, [], [])


def test_buckets_keep_each_bucket_peak_and_never_stretch() -> None:
    assert buckets([1, 2, 3], 5) == [1, 2, 3]
    assert buckets([1, 2, 3], 3) == [1, 2, 3]
    # 6 samples into 3 buckets: [0,1] [2,3] [4,5]
    assert buckets([1, 9, 0, 0, 4, 2], 3) == [9, 0, 4]
    # 5 samples into 2 buckets: floor(0*5/2)=0..floor(5/2)=2 -> [0,1]; 2..5 -> [2,3,4]
    assert buckets([7, 1, 2, 8, 3], 2) == [7, 8]
    # 7 samples into 3: bounds 0, 2, 4, 7 -> [0,1] [2,3] [4,5,6]
    assert buckets([1, 2, 3, 4, 5, 6, 7], 3) == [2, 4, 7]


def test_levels_zero_bottom_top_only_at_top_nonzero_lifted() -> None:
    steps = 8
    assert level(0, 5, steps) == 0
    # value * 7 / 5 rounded up: 1.4 -> 2, 2.8 -> 3, 4.2 -> 5, 5.6 -> 6
    assert [level(v, 5, steps) for v in (1, 2, 3, 4, 5)] == [2, 3, 5, 6, 7]
    # 1 of 1000: 0.007 -> 1 (above zero shows); 999 of 1000: 6.993 -> 7, held below the top at 6
    assert level(1, 1000, steps) == 1
    assert level(999, 1000, steps) == 6
    assert level(1000, 1000, steps) == 7
    assert level(3, 0, steps) == 0


def test_sparkline_resamples_and_marks_full_bars() -> None:
    line = timeline(series(accept_queue=[0, 2, 5, 5, 1, 0]), accept_queue_limit=4).moving[0]
    # top 5; all six samples fit in 6 glyphs: 0 -> 0, 2 -> ceil(2.8)=3, 5 -> 7 (full), 1 -> ceil(1.4)=2
    assert sparkline(line, 6, 8) == [Bar(0), Bar(3), Bar(7, True), Bar(7, True), Bar(2), Bar(0)]
    # into 3 buckets: max(0,2)=2, max(5,5)=5, max(1,0)=1
    assert sparkline(line, 3, 8) == [Bar(3), Bar(7, True), Bar(2)]


def test_resampled_when_more_samples_than_glyphs() -> None:
    result = timeline(series(), accept_queue_limit=4)
    assert resampled(result, 5) is True
    assert resampled(result, 6) is False


def test_client_outcomes_and_retransmissions_move_like_the_others() -> None:
    # two clients time out at 0.3 and 0.5 s (cumulative); the others retransmit in 0.2 and 0.4
    ts = series(
        client_syn_retrans=[0, 3, 0, 1, 0, 0],
        refused=[0] * 6,
        reset=[0] * 6,
        timed_out=[0, 0, 1, 1, 2, 2],
    )
    result = timeline(ts, accept_queue_limit=4)
    moving = {line.name: line for line in result.moving}
    assert list(moving) == ["client SYN retrans", "clients timed out"]
    retrans, timed_out = moving["client SYN retrans"], moving["clients timed out"]
    assert retrans.kind is Kind.PER_INTERVAL and (retrans.low, retrans.high) == (0, 3)
    # a count's last: the last interval with any retransmission
    assert (retrans.first_nonzero_s, retrans.peak_s, retrans.last_s) == (0.2, 0.2, 0.4)
    assert timed_out.kind is Kind.CUMULATIVE and (timed_out.low, timed_out.high) == (0, 2)
    # a running total's last: the last sample that differs from the one before
    assert (timed_out.first_nonzero_s, timed_out.peak_s, timed_out.last_s) == (0.3, 0.5, 0.5)
    constant = [line.name for line in result.constant]
    assert constant[-2:] == ["clients refused", "clients reset"]
