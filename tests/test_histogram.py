"""tcpq.histogram: fixed log buckets that reproduce the reported percentiles within one bucket."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpq.histogram import (
    BUCKETS,
    HIGHEST_S,
    LOWEST_S,
    PER_DECADE,
    bucket_bounds,
    bucket_index,
    histogram,
    quantile_bucket,
)
from tcpq.run.summary import percentiles
from tcpq.types import Histogram, Percentiles

from .cli_helpers import simulate_json

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))
QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0))


def test_the_buckets_are_twenty_a_decade_from_one_microsecond() -> None:
    # by hand: 10^(1/20) = 1.1220; 1 s is 6 decades above 1 µs, so it opens bucket 6·20 + 1
    assert bucket_bounds(121) == pytest.approx((1.0, 1.122018454), rel=1e-9)
    assert bucket_index(1.0) == 121 and bucket_index(1.12) == 121 and bucket_index(1.123) == 122
    assert bucket_index(0.0) == 0 and bucket_index(0.9e-6) == 0 and bucket_index(LOWEST_S) == 1
    assert bucket_index(HIGHEST_S) == BUCKETS + 1 and bucket_index(HIGHEST_S * 0.999) == BUCKETS
    assert PER_DECADE == 20 and BUCKETS == 180


def test_a_histogram_counts_each_sample_once_in_its_bucket() -> None:
    hist = histogram([0, 250, 1_000_000, 1_000_500, 3_000_000])
    assert len(hist.counts) == BUCKETS + 2
    nonzero = {index: count for index, count in enumerate(hist.counts) if count}
    # 250 µs = 10^2.398 µs → bucket 47 + 1; 3 s = 10^6.477 µs → bucket 129 + 1
    assert nonzero == {0: 1, 48: 1, 121: 2, 130: 1}


def test_the_kernels_retransmission_steps_fall_in_different_buckets() -> None:
    # connect() after 0, 1, 2 and 3 s of SYN retransmissions, each + 0.2 ms of round trip
    steps = [bucket_index(t + 0.0002) for t in (0.0, 1.0, 2.0, 3.0)]
    assert len(set(steps)) == 4


def within_one_bucket(pct: Percentiles, hist: Histogram) -> list[str]:
    wrong = []
    for name, q in QUANTILES:
        value = getattr(pct, name)
        if value is None:
            if sum(hist.counts):
                wrong.append(f"{name} missing")
            continue
        if abs(bucket_index(value) - quantile_bucket(hist, q)) > 1:
            wrong.append(f"{name}={value} in {bucket_index(value)}, histogram {quantile_bucket(hist, q)}")
    return wrong


@given(st.lists(st.integers(min_value=0, max_value=200_000_000), min_size=1, max_size=400))
def test_the_buckets_reproduce_the_percentiles(samples_us: list[int]) -> None:
    assert within_one_bucket(percentiles(samples_us), histogram(samples_us)) == []
    assert sum(histogram(samples_us).counts) == len(samples_us)


def as_histogram(data: dict[str, object]) -> Histogram:
    return Histogram(float(data["lowest_s"]), int(data["per_decade"]), list(data["counts"]))  # type: ignore[arg-type, call-overload]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_carries_distributions_matching_its_percentiles(path: Path) -> None:
    data = simulate_json(path)
    clients = data["clients"]
    connect = as_histogram(clients["connect_time_hist"])
    # every connected client has a connect time; no client has two
    assert clients["connected"] <= sum(connect.counts) <= clients["attempted"]
    pct = Percentiles(**clients["connect_time_s"])
    assert within_one_bucket(pct, connect) == []
    if clients["response_time_s"] is not None:
        response = as_histogram(clients["response_time_hist"])
        assert within_one_bucket(Percentiles(**clients["response_time_s"]), response) == []
    else:
        assert clients["response_time_hist"] is None
    json.dumps(data)  # the contract stays plain JSON
