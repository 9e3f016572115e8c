"""The event core: (time, sequence) order across the heap, the delay lanes and the buckets."""

import pytest

from tcpq.sim.engine import Engine


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
    engine.run(20)
    assert ran == [] and engine.pending == 1
    engine.run(40)
    assert ran == [30]


def test_a_bucket_in_the_past_is_an_error() -> None:
    engine = Engine()
    engine.run(100)
    with pytest.raises(ValueError, match="past"):
        engine.at_bucket(50, print)
