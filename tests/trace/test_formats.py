"""The format parser and the plan built from it, on 6.18's files and on an older kernel's."""

import re
from pathlib import Path

import pytest

from tcpq.trace.formats import parse_format, parse_format_dump
from tcpq.trace.plan import make_plan, numbers_filter

DATA = Path(__file__).resolve().parents[1] / "data"
NEW = parse_format_dump((DATA / "tracefs-formats-6.18.txt").read_text())
OLD = parse_format_dump((DATA / "tracefs-formats-6.1-derived.txt").read_text())


def matches(expression: str, field: str, value: int) -> bool:
    """Evaluate the kind of filter plan.numbers_filter writes, as the kernel would."""
    for clause in expression.split(" || "):
        if (single := re.fullmatch(rf"{field} == (\d+)", clause)) is not None:
            if value == int(single.group(1)):
                return True
        elif (span := re.fullmatch(rf"\({field} >= (\d+) && {field} <= (\d+)\)", clause)) is not None:
            if int(span.group(1)) <= value <= int(span.group(2)):
                return True
        else:
            raise AssertionError(f"unexpected clause {clause!r}")
    return False


def test_6_18_fields_and_reasons() -> None:
    kfree = NEW["kfree_skb"]
    assert kfree.system == "skb" and kfree.id == 2310
    assert (kfree.fields["rx_sk"].offset, kfree.fields["rx_sk"].size) == (24, 8)
    assert kfree.fields["reason"].type == "enum skb_drop_reason"
    assert kfree.symbols["reason"][40] == "TCP_LISTEN_OVERFLOW"
    assert kfree.number("reason", "TCP_INVALID_SYN") == 46
    assert kfree.symbols["reason"][2] == "NOT_SPECIFIED"


def test_older_kernel_numbers_mean_other_reasons() -> None:
    kfree = OLD["kfree_skb"]
    assert not kfree.has("rx_sk")
    assert kfree.fields["reason"].offset == 28
    assert kfree.symbols["reason"][40] == "IPV6DISABLED"
    assert kfree.number("reason", "TCP_INVALID_SYN") == 30
    assert kfree.number("reason", "TCP_LISTEN_OVERFLOW") is None
    assert NEW["kfree_skb"].number("reason", "TCP_RESET") != kfree.number("reason", "TCP_RESET")


def test_state_maps_numeric_and_by_constant_name() -> None:
    set_state = NEW["inet_sock_set_state"]
    assert set_state.symbols["newstate"][10] == "TCP_LISTEN"
    assert set_state.number("protocol", "IPPROTO_TCP") == 6
    # tcp_retransmit_skb prints { TCP_SYN_SENT, "TCP_SYN_SENT" }: resolved through tcp_states.h.
    assert NEW["tcp_retransmit_skb"].number("state", "TCP_SYN_SENT") == 2
    # tcp_send_reset's map sits behind `REC->state ? ... : "UNKNOWN"` and still parses.
    assert NEW["tcp_send_reset"].symbols["reason"][10] == "INVALID_SYN"


@pytest.mark.parametrize("formats", [NEW, OLD], ids=["6.18", "older"])
def test_drop_filter_keeps_exactly_the_tcp_reasons(formats: dict) -> None:  # type: ignore[type-arg]
    plan = make_plan(formats, port=None)
    expression = plan.filters["skb/kfree_skb"]
    reasons = formats["kfree_skb"].symbols["reason"]
    for number in range(max(reasons) + 5):
        wanted = reasons.get(number, "").startswith("TCP_")
        assert matches(expression, "reason", number) == wanted, (number, reasons.get(number))


def test_plan_says_what_the_older_kernel_lacks() -> None:
    new, old = make_plan(NEW, port=8080), make_plan(OLD, port=8080)
    assert new.missing == [] and new.listen_overflow_reason == 40 and new.has_rx_sk
    assert old.listen_overflow_reason is None and not old.has_rx_sk
    assert any("TCP_LISTEN_OVERFLOW" in line for line in old.missing)
    assert any("rx_sk" in line for line in old.missing)
    assert any("tcp_retransmit_synack" in line for line in old.missing)  # not in the older file
    set_state = new.filters["sock/inet_sock_set_state"]
    assert set_state.startswith("(protocol == 6) && (") and set_state.endswith(
        ") && (sport == 8080 || dport == 8080)"
    )
    assert (
        new.filters["tcp/tcp_retransmit_skb"]
        == "((state >= 2 && state <= 3)) && (sport == 8080 || dport == 8080)"
    )
    assert new.filters["tcp/tcp_send_reset"] == ""  # no port fields on 6.18 (sockaddr arrays)


def matches_any(expression: str, values: dict[str, int]) -> bool:
    """`matches` over clauses on several fields: `oldstate == 2 || (newstate >= 2 && ...)`."""
    for clause in expression.split(" || "):
        field = re.sub(r"^\(?(\w+) .*$", r"\1", clause)
        if matches(clause, field, values[field]):
            return True
    return False


@pytest.mark.parametrize("formats", [NEW, OLD], ids=["6.18", "older"])
def test_state_filter_keeps_establishment_only(formats: dict) -> None:  # type: ignore[type-arg]
    """Every (oldstate, newstate) pair of the format's map: kept in the kernel exactly when one
    side is SYN_SENT, SYN_RECV, NEW_SYN_RECV or LISTEN; teardown never reaches tcpq."""
    expression = make_plan(formats, port=None).filters["sock/inet_sock_set_state"]
    protocol, states = expression.split(" && ", 1)
    assert protocol == "(protocol == 6)" and states.startswith("(") and states.endswith(")")
    names = formats["inet_sock_set_state"].symbols["oldstate"]
    wanted = {"TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_NEW_SYN_RECV", "TCP_LISTEN"}
    for old, old_name in names.items():
        for new, new_name in names.items():
            kept = matches_any(states[1:-1], {"oldstate": old, "newstate": new})
            assert kept == (old_name in wanted or new_name in wanted), (old_name, new_name)


def test_numbers_filter_folds_runs() -> None:
    assert (
        numbers_filter("reason", [7, 3, 4, 5, 9])
        == "(reason >= 3 && reason <= 5) || reason == 7 || reason == 9"
    )


def test_not_a_format_file_is_an_error() -> None:
    from tcpq.errors import ParseError

    with pytest.raises(ParseError):
        parse_format("hello\n")
