"""The `tcpq` command (`python -m tcpq`, and the console script `tcpq`)."""

import gc

# tcpq's objects are freed by their reference counts; Python's cycle collector only looks for
# cycles, by default after every 700 allocations. A one-shot host command then spent 10-12 ms in
# it (`tcpq status` at 10k sockets: 36 young and 4 older collections, timed with gc.callbacks)
# and ~16 ms of CPU with its fd walker (docs/benchmarks.md). Every command starts with a higher
# young threshold instead; the collector still runs, on long-lived commands too (top, export,
# --watch), just less often. The simulator raises it further for its run (sim/runner.py).
COMMAND_YOUNG_THRESHOLD = 100_000


def run() -> None:
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, COMMAND_YOUNG_THRESHOLD), middle, old)
    from tcpq.cli import main

    main()


if __name__ == "__main__":
    run()
