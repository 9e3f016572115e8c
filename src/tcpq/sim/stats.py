"""What a run measured: client outcomes, connect and response times, queue peaks, cookies.

Only the handlers write here and only runner.py reads it (into the RunResult). The fields are
public and written in place: the handlers update them for every connection.
"""

from array import array
from collections import Counter

from tcpq.model.client import Outcome
from tcpq.sim.conn import Conn


class RunStats:
    __slots__ = (
        "accept_peak",
        "connect_times",
        "cookie_connections",
        "outcomes",
        "response_times",
        "syn_peak",
    )

    def __init__(self) -> None:
        self.outcomes: Counter[Outcome] = Counter()  # each client's latest outcome
        # µs from connect() to the SYN-ACK per handshake, to the reply per request: 8 bytes a
        # value in an array, where a list of ints takes 36 (docs/benchmarks.md, memory).
        self.connect_times: array[int] = array("q")
        self.response_times: array[int] = array("q")
        self.accept_peak = 0  # deepest accept queue seen
        self.syn_peak = 0  # deepest SYN queue seen
        self.cookie_connections = 0  # children made from a SYN cookie

    def resolve(self, conn: Conn, outcome: Outcome) -> None:
        """Record the client's outcome; a later one replaces it (a connection reset after it
        was counted as connected counts as reset)."""
        if conn.outcome is not None:
            self.outcomes[conn.outcome] -= 1
        conn.outcome = outcome
        self.outcomes[outcome] += 1
