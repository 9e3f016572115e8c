"""trace_pipe lines (captured on 6.18) → typed events."""

from tcpq.trace.events import Endpoint, Kind, Lost, TraceEvent, parse_line, parse_sockaddr

RETRANSMIT = (
    "          <idle>-0       [001] ..s2.   345.858495: tcp_retransmit_skb: skbaddr=0000000008403804 "
    "skaddr=00000000ee8c03cc family=AF_INET sport=37716 dport=48123 saddr=127.0.0.1 daddr=127.0.0.1 "
    "saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 state=TCP_SYN_SENT err=0"
)
DROP = (
    "   python3-8691    [001] ..s1.   345.047548: kfree_skb: skbaddr=000000002a726bf8 "
    "rx_sk=00000000c045992e protocol=2048 location=tcp_v4_rcv+0x99/0x1400 reason: TCP_LISTEN_OVERFLOW"
)
RESET = (
    "   python3-8691    [001] ..s1.   345.047531: tcp_send_reset: skbaddr=000000002a726bf8 "
    "skaddr=00000000c045992e src=127.0.0.1:48123 dest=0.0.0.0:0 state=TCP_LISTEN reason=INVALID_SYN"
)
STATE = (
    "   python3-8691    [001] ..s2.   344.847184: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP "
    "sport=48123 dport=37648 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 "
    "daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV"
)


def test_retransmit() -> None:
    event = parse_line(RETRANSMIT)
    assert event == TraceEvent(
        345.858495,
        1,
        Kind.SYN_RETRANSMIT,
        Endpoint("127.0.0.1", 37716),
        Endpoint("127.0.0.1", 48123),
        sk="00000000ee8c03cc",
        skb="0000000008403804",
        state="SYN_SENT",
    )


def test_drop_and_its_reset_share_the_skb() -> None:
    drop, reset = parse_line(DROP), parse_line(RESET)
    assert isinstance(drop, TraceEvent) and isinstance(reset, TraceEvent)
    assert drop.kind is Kind.DROP and drop.reason == "TCP_LISTEN_OVERFLOW" and drop.sk == "00000000c045992e"
    assert (
        reset.kind is Kind.RESET_SENT and reset.remote is None and reset.local == Endpoint("127.0.0.1", 48123)
    )
    assert reset.skb == drop.skb and reset.reason == "INVALID_SYN" and reset.state == "LISTEN"


def test_state_change_has_no_pointer() -> None:
    event = parse_line(STATE)
    assert isinstance(event, TraceEvent)
    assert (event.oldstate, event.newstate, event.sk) == ("LISTEN", "SYN_RECV", None)
    assert event.local == Endpoint("127.0.0.1", 48123) and event.remote == Endpoint("127.0.0.1", 37648)


def test_task_names_with_spaces_and_dashes() -> None:
    line = RETRANSMIT.replace("<idle>-0", "my server-x [9]-77")
    event = parse_line(line)
    assert isinstance(event, TraceEvent) and event.cpu == 1


def test_lost_and_unknown_events() -> None:
    assert parse_line("CPU:1 [LOST 42 EVENTS]") == Lost(1, 42)
    other = RETRANSMIT.replace("tcp_retransmit_skb:", "tcp_probe:")
    assert parse_line(other) is None


def test_sockaddr() -> None:
    assert parse_sockaddr("[::1]:8080") == Endpoint("::1", 8080)
    assert parse_sockaddr("0.0.0.0:0") is None
    assert str(Endpoint("::1", 80)) == "[::1]:80"
