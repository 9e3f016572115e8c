"""The event core: (time, sequence) order across the heap, the delay lanes and the buckets; ties;
cancellation by the handler's own check; events in the past refused; run(until) and progress."""

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpq.sim import engine as engine_module
from tcpq.sim.engine import Engine


def test_events_run_in_time_order_whatever_the_order_they_were_scheduled_in() -> None:
    engine = Engine()
    seen: list[tuple[int, int]] = []  # (the event's time, the clock when it ran)
    for when in (500, 20, 300, 0, 999, 20_000_000):
        engine.at(when, lambda at: seen.append((at, engine.now)), when)
    engine.run(1000)
    assert seen == [(0, 0), (20, 20), (300, 300), (500, 500), (999, 999)]
    assert engine.pending == 1  # the one after `until` waits


def test_events_run_in_time_then_scheduling_order_across_structures() -> None:
    engine = Engine()
    ran: list[str] = []
    engine.at_bucket(100, ran.append, "bucket-100-a")
    engine.after(100, ran.append, "lane-100")
    engine.at(100, ran.append, "heap-100")
    engine.at_bucket(100, ran.append, "bucket-100-b")
    engine.at(50, ran.append, "heap-50")
    engine.at_bucket(200, ran.append, "bucket-200")
    engine.run(1000)
    assert ran == ["heap-50", "bucket-100-a", "lane-100", "heap-100", "bucket-100-b", "bucket-200"]
    assert engine.now == 1000


def test_a_tie_scheduled_while_running_goes_after_those_already_due() -> None:
    engine = Engine()
    ran: list[str] = []

    def first(_: object) -> None:
        ran.append("first")
        engine.at(engine.now, ran.append, "at-now")
        engine.after(0, ran.append, "after-0")
        engine.at_bucket(engine.now, ran.append, "bucket-now")

    engine.at(10, first)
    engine.at(10, ran.append, "second")
    engine.after(10, ran.append, "lane-10")
    engine.run(10)
    assert ran == ["first", "second", "lane-10", "at-now", "after-0", "bucket-now"]


def test_a_delay_lane_is_first_in_first_out_and_lanes_interleave_by_time() -> None:
    engine = Engine()
    ran: list[tuple[int, str]] = []

    def record(name: str) -> None:
        ran.append((engine.now, name))

    engine.after(30, record, "30-a")
    engine.after(10, record, "10-a")
    engine.after(30, record, "30-b")
    engine.run(5)
    engine.after(10, record, "10-b")  # born at 5: due at 15, before the lane of 30's head
    engine.after(30, record, "30-c")  # due at 35
    engine.run(100)
    assert ran == [(10, "10-a"), (15, "10-b"), (30, "30-a"), (30, "30-b"), (35, "30-c")]


def test_delays_beyond_the_lanes_keep_exact_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_LANES distinct delays, the others go to the heap: order is the same."""
    monkeypatch.setattr(engine_module, "MAX_LANES", 2)
    engine = Engine()
    ran: list[tuple[int, int]] = []
    delays = [7, 3, 5, 3, 9, 1, 7, 5, 0]
    for index, delay in enumerate(delays):
        engine.after(delay, lambda i: ran.append((engine.now, i)), index)
    engine.run(100)
    assert ran == sorted((delay, index) for index, delay in enumerate(delays))


def test_a_bucket_runs_once_and_a_new_one_can_take_its_time() -> None:
    engine = Engine()
    ran: list[int] = []

    def rearm(value: int) -> None:
        ran.append(value)
        if value < 3:
            engine.at_bucket(engine.now, rearm, value + 1)  # same instant, after itself

    engine.at_bucket(10, rearm, 1)
    engine.run(20)
    assert ran == [1, 2, 3]
    assert engine.pending == 0


def test_events_beyond_until_wait() -> None:
    engine = Engine()
    ran: list[int] = []
    engine.at_bucket(30, ran.append, 30)
    engine.at(20, ran.append, 20)  # exactly at `until`: runs
    engine.run(20)
    assert ran == [20] and engine.pending == 1 and engine.now == 20
    engine.run(40)
    assert ran == [20, 30] and engine.now == 40


@dataclass
class _Timer:
    """A kernel-style timer as the simulator arms one: re-arming makes the armed event stale."""

    generation: int = 0
    fired: int = 0


def test_a_cancelled_event_still_runs_and_its_handler_ignores_it() -> None:
    """The engine removes nothing (module docstring): a timer is cancelled by re-arming or by a
    change of state, and the handler checks what it was armed for and returns."""
    engine = Engine()
    timer = _Timer()

    def fire(generation: int) -> None:
        if generation == timer.generation:
            timer.fired += 1

    engine.after(100, fire, timer.generation)
    engine.run(50)
    timer.generation += 1  # cancelled: the event stays in the engine
    engine.after(100, fire, timer.generation)  # due at 150
    assert engine.pending == 2
    engine.run(120)
    assert timer.fired == 0 and engine.pending == 1  # the stale one ran, and did nothing
    engine.run(200)
    assert timer.fired == 1 and engine.pending == 0


@pytest.mark.parametrize("schedule", ["at", "after", "at_bucket"])
def test_an_event_in_the_past_is_an_error(schedule: str) -> None:
    engine = Engine()
    engine.run(100)
    with pytest.raises(ValueError, match=r"event scheduled in the past: 50 < 100"):
        if schedule == "at":
            engine.at(50, print)
        elif schedule == "after":
            engine.after(-50, print)
        else:
            engine.at_bucket(50, print)
    assert engine.pending == 0  # nothing was scheduled


def test_now_is_not_the_past() -> None:
    engine = Engine()
    engine.run(100)
    ran: list[str] = []
    engine.at(100, ran.append, "at")
    engine.after(0, ran.append, "after")
    engine.at_bucket(100, ran.append, "bucket")
    engine.run(100)
    assert ran == ["at", "after", "bucket"]


def test_progress_is_reported_at_event_times_every_interval() -> None:
    engine = Engine()
    for when in range(0, 1001, 100):
        engine.at(when, lambda _: None)
    reports: list[int] = []
    engine.run(1000, reports.append, every=250)
    # The first event at or after 250 is reported, then the first 250 µs or more after that one.
    assert reports == [300, 600, 900]


# One scheduling call: (kind, offset from now, how many events the handler schedules in turn).
CALL = st.tuples(st.sampled_from(["at", "after", "bucket"]), st.integers(0, 40), st.integers(0, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(CALL, min_size=1, max_size=30), st.integers(0, 120))
def test_any_schedule_runs_in_time_then_scheduling_order(
    calls: list[tuple[str, int, int]], until: int
) -> None:
    """However events are scheduled (heap, lanes, buckets; before the run or from handlers),
    they run sorted by (time, the order they were scheduled in), none after `until`."""
    engine = Engine()
    scheduled: list[tuple[int, int]] = []  # (time, order scheduled) of every event
    ran: list[int] = []
    pending_calls = list(calls)

    def schedule(kind: str, offset: int, children: int) -> None:
        when = engine.now + offset
        event = (len(scheduled), children)
        scheduled.append((when, len(scheduled)))
        if kind == "at":
            engine.at(when, handler, event)
        elif kind == "after":
            engine.after(offset, handler, event)
        else:
            engine.at_bucket(when, handler, event)

    def handler(event: tuple[int, int]) -> None:
        index, children = event
        ran.append(index)
        for _ in range(children):
            if pending_calls:
                schedule(*pending_calls.pop())

    for _ in range(min(3, len(pending_calls))):
        schedule(*pending_calls.pop())
    engine.run(until)
    assert ran == [index for when, index in sorted(scheduled) if when <= until]
    assert engine.pending == sum(1 for when, _ in scheduled if when > until)


def test_advance_to_moves_the_clock_only_when_nothing_pending_runs_first() -> None:
    engine = Engine()
    answers: list[tuple[int, bool, int]] = []  # (asked for, answer, clock after)

    def ask(when: int) -> None:
        answers.append((when, engine.advance_to(when), engine.now))

    engine.at(10, lambda _: [ask(15), ask(20), ask(21), ask(60)])
    engine.at(20, lambda _: None)  # due at 20: the continuation at 20 would run after it
    engine.run(50)
    assert answers == [(15, True, 15), (20, False, 15), (21, False, 15), (60, False, 15)]
    assert not Engine().advance_to(0)  # outside a run: nothing may advance


def test_advance_to_stops_at_a_progress_report() -> None:
    engine = Engine()
    answers: list[bool] = []
    engine.at(10, lambda _: answers.extend([engine.advance_to(99), engine.advance_to(100)]))
    reports: list[int] = []
    engine.run(1000, reports.append, every=100)
    assert answers == [True, False]


# A packet train: (first packet's time, each packet's cost in µs); and lone events.
TRAIN = st.tuples(st.integers(0, 60), st.lists(st.integers(0, 3), min_size=1, max_size=8))


@settings(max_examples=200, deadline=None)
@given(st.lists(TRAIN, min_size=1, max_size=5), st.lists(st.integers(0, 80), max_size=12), st.integers(0, 90))
def test_going_on_at_once_runs_exactly_as_scheduling_the_continuation(
    trains: list[tuple[int, list[int]]], lone: list[int], until: int
) -> None:
    """A handler that works through a train of packets, each taking its cost, and continues
    either by scheduling itself `cost` later (Link's drain before) or by `advance_to` when
    that is allowed: both runs see every event at the same time in the same order, and the
    events they schedule afterwards take the same sequence numbers."""

    def trace(use_advance: bool) -> tuple[list[tuple[int, str]], int]:
        engine = Engine()
        seen: list[tuple[int, str]] = []

        def lone_event(label: str) -> None:
            seen.append((engine.now, label))
            engine.after(1, lambda _: seen.append((engine.now, label + "+1")))

        def drain(train: tuple[int, list[int], list[int]]) -> None:
            name, costs, position = train
            while position[0] < len(costs):
                cost = costs[position[0]]
                seen.append((engine.now, f"{name}.{position[0]}"))
                position[0] += 1
                if cost and position[0] < len(costs):
                    if use_advance and engine.advance_to(engine.now + cost):
                        continue
                    engine.after(cost, drain, train)
                    return

        for index, (start, costs) in enumerate(trains):
            engine.at(start, drain, (f"t{index}", costs, [0]))
        for index, when in enumerate(lone):
            engine.at(when, lone_event, f"e{index}")
        engine.run(until)
        engine.at(engine.now, lambda _: None)
        return seen, engine._heap[-1][1]  # the sequence number the next event takes

    assert trace(use_advance=True) == trace(use_advance=False)
