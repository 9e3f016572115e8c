"""An event's `format` file → its fields and the number ↔ name maps of its __print_symbolic.

Pure: text in, data out. Drop-reason numbers move between kernel versions (40 is
TCP_LISTEN_OVERFLOW on 6.18, IPV6DISABLED on 6.1), so every number tcpq writes into a filter
comes from the running kernel's format file, never from a table in tcpq.
"""

import re
from dataclasses import field

from tcpq.errors import ParseError
from tcpq.kernel.states import TcpState
from tcpq.records import frozen

_FIELD = re.compile(
    r"^\s*field:(?P<decl>.+?);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);\s*signed:(?P<signed>\d+);"
)
_SYMBOLIC = re.compile(r"__print_symbolic\(\s*REC->(\w+)\s*,")
_ENTRY = re.compile(r'\{\s*([^,{}]+?)\s*,\s*"([^"]*)"\s*\}')
_SECTION = re.compile(r"^=== events/(\w+)/(\w+)\s*$")

# A few maps print the kernel's enum names unresolved (tcp_retransmit_skb's `state` says
# `{ TCP_ESTABLISHED, "TCP_ESTABLISHED" }`): include/net/tcp_states.h gives their numbers.
_KNOWN_CONSTANTS = {f"TCP_{state.name}": int(state) for state in TcpState}


@frozen(slots=True)
class Field:
    name: str
    type: str
    offset: int
    size: int
    signed: bool


@frozen
class EventFormat:
    """One tracepoint as the running kernel describes it."""

    system: str
    name: str
    id: int
    fields: dict[str, Field]
    print_fmt: str
    symbols: dict[str, dict[int, str]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.fields

    def number(self, field_name: str, symbol: str) -> int | None:
        """The number the kernel prints as `symbol` for `field_name`, if its map has it."""
        for value, name in self.symbols.get(field_name, {}).items():
            if name == symbol:
                return value
        return None


def _declaration(decl: str) -> tuple[str, str]:
    """ "const void * skaddr" → ("const void *", "skaddr"); "__u8 saddr[4]" → ("__u8 [4]", "saddr")."""
    decl = decl.strip()
    match = re.match(r"^(?P<type>.*?)(?P<name>\w+)(?P<array>\[\d*\])?$", decl)
    if match is None:
        raise ParseError(f"format: cannot read the field declaration {decl!r}")
    type_text = match.group("type").strip() + (f" {match.group('array')}" if match.group("array") else "")
    return type_text, match.group("name")


def _balanced(text: str, start: int) -> str:
    """The text from `start` up to the parenthesis that closes the one just before it."""
    depth = 1
    in_string = False
    for index in range(start, len(text)):
        char = text[index]
        if char == '"' and text[index - 1] != "\\":
            in_string = not in_string
        elif not in_string and char == "(":
            depth += 1
        elif not in_string and char == ")":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return text[start:]


def _key(text: str) -> int | None:
    text = text.strip()
    try:
        return int(text, 0)
    except ValueError:
        return _KNOWN_CONSTANTS.get(text)


def parse_symbols(print_fmt: str) -> dict[str, dict[int, str]]:
    """Every `__print_symbolic(REC->field, { n, "NAME" }, ...)` of a print format; the first map
    of a field wins (inet_sock_set_state has one per oldstate/newstate, each its own field)."""
    maps: dict[str, dict[int, str]] = {}
    for match in _SYMBOLIC.finditer(print_fmt):
        body = _balanced(print_fmt, match.end())
        entries: dict[int, str] = {}
        for key_text, name in _ENTRY.findall(body):
            key = _key(key_text)
            if key is not None:
                entries.setdefault(key, name)
        maps.setdefault(match.group(1), entries)
    return maps


def parse_format(text: str, system: str = "") -> EventFormat:
    """One `format` file. Raises ParseError naming what is missing."""
    name = ""
    event_id = -1
    fields: dict[str, Field] = {}
    print_fmt = ""
    for line in text.splitlines():
        if line.startswith("name:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("ID:"):
            event_id = int(line.partition(":")[2].strip() or -1)
        elif line.startswith("print fmt:"):
            print_fmt = line.partition(":")[2].strip()
        elif (match := _FIELD.match(line)) is not None:
            type_text, field_name = _declaration(match.group("decl"))
            fields[field_name] = Field(
                field_name,
                type_text,
                int(match.group("offset")),
                int(match.group("size")),
                match.group("signed") == "1",
            )
    if not name or not fields:
        raise ParseError("format: no `name:` line or no fields (not a tracefs format file)")
    return EventFormat(system, name, event_id, fields, print_fmt, parse_symbols(print_fmt))


def parse_format_dump(text: str) -> dict[str, EventFormat]:
    """Several format files, each after a `=== events/SYSTEM/NAME` line (as the reference dump
    and tests/data hold them); `#` lines before the first section are comments."""
    formats: dict[str, EventFormat] = {}
    system: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if system is not None and lines:
            event = parse_format("\n".join(lines), system)
            formats[event.name] = event

    for line in text.splitlines():
        match = _SECTION.match(line)
        if match is not None:
            flush()
            system, lines = match.group(1), []
        elif system is not None:
            lines.append(line)
    flush()
    return formats
