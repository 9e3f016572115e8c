"""docs/examples/<command>.txt: one real, annotated session per command (BCC's habit) whose quoted
`--help` is the live one and whose typed commands still parse (issue 12).

BCC's example files drifted from the tools' real help; here a changed option, a renamed command
or a reworded help line fails until the example is run again and pasted.
"""

import functools
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tcpq.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
# The quoted help is what `COLUMNS=80 tcpq ... --help` prints; click wraps it from that variable,
# so the live help below is drawn with the same one.
COLUMNS = "80"
TCPQ = Path(sys.executable).parent / "tcpq"  # the venv's, installed with the package
HELP_END = "-- end of --help --"
PROMPT = "# "
# Where a typed line stops being one command (a pipe, a list, the background); a redirection
# ends a command's arguments.
SEPARATORS = {"|", "||", "&&", ";", "&"}
FD_REDIRECTION = re.compile(r"(?<=\s)\d+(?=[<>])")
# How the help's examples call tcpq: as root, the venv's by its path (README, `sudo` resets PATH).
TCPQ_SPELLINGS = {"tcpq", ".venv/bin/tcpq"}


def command_paths(command: click.Command = main, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand, as the words after `tcpq` (the group itself first)."""
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "tcpq")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from command_paths(sub, (*path, name))


PATHS = list(command_paths())


def example_file(path: tuple[str, ...]) -> Path:
    return EXAMPLES / f"{'-'.join(path) or 'tcpq'}.txt"


def help_prompt(path: tuple[str, ...]) -> str:
    return f"{PROMPT}COLUMNS={COLUMNS} {shlex.join(['tcpq', *path, '--help'])}"


@functools.cache
def live_help(path: tuple[str, ...]) -> str:
    """What the doc's prompt line prints: the installed `tcpq` run as typed (CliRunner would wrap
    at its own fixed width, not at COLUMNS')."""
    assert TCPQ.is_file(), f"{TCPQ} missing: pip install -e ."
    result = subprocess.run(
        [str(TCPQ), *path, "--help"],
        env={**os.environ, "COLUMNS": COLUMNS},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def quoted_help(text: str, prompt: str) -> str:
    """The lines between the help's prompt line and the end marker, as the command printed them."""
    lines = text.splitlines()
    assert lines.count(prompt) == 1, f"expected the line {prompt!r} once"
    start = lines.index(prompt) + 1
    assert HELP_END in lines[start:], f"no {HELP_END!r} after {prompt!r}"
    end = lines.index(HELP_END, start)
    return "".join(f"{line}\n" for line in lines[start:end])


def without_prefix(words: list[str]) -> list[str]:
    """A shell command's words from its program on: past VAR=value assignments and sudo."""
    while words and (words[0] == "sudo" or "=" in words[0]):
        words = words[1:]
    return words


def program(command: str) -> str:
    return next(iter(without_prefix(command.split())), "")


def typed_commands(text: str) -> list[str]:
    """The tcpq command lines typed after a `# ` prompt, continuation lines (trailing `\\`)
    joined. Other `# ` lines are output (a sysctl.d comment, a Prometheus HELP line) or another
    program (tmux, curl)."""
    commands: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.startswith(PROMPT):
            continue
        command = line[len(PROMPT) :]
        while command.endswith("\\"):
            command = command[:-1] + next(lines).strip()
        if program(command) in TCPQ_SPELLINGS:
            commands.append(command)
    return commands


def tcpq_invocations(command: str) -> list[list[str]]:
    """The argument lists of each `tcpq` a shell line runs (after `sudo`, VAR=value, in a pipe)."""
    # `2>/dev/null`: shlex would leave the 2 as an argument; drop the descriptor, keep the `>`
    lexer = shlex.shlex(FD_REDIRECTION.sub("", command), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    found = []
    for segment in segments:
        words = without_prefix(segment)
        if words and words[0] in TCPQ_SPELLINGS:
            cut = next((i for i, word in enumerate(words) if word[0] in "<>"), len(words))
            found.append(words[1:cut])
    return found


def resolve(args: list[str]) -> tuple[tuple[str, ...], click.Command, click.Context, list[str]]:
    """The command `tcpq ARGS` runs, found as click finds it (`tcpq lab FILE` is `lab run`): its
    path of names, the command, the context of its group and its own arguments."""
    command: click.Command = main
    ctx = click.Context(main, info_name="tcpq")
    names: tuple[str, ...] = ()
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        found, sub, args = command.resolve_command(ctx, args)
        assert found is not None and sub is not None
        names, command = (*names, found), sub
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=found, parent=ctx)
    return names, command, ctx, args


def parse(args: list[str]) -> tuple[str, ...]:
    """Parse `tcpq ARGS` as click does, without running it: an unknown command or option, a missing
    argument or a bad value raises click's UsageError. Returns the path of the command it runs."""
    names, command, ctx, rest = resolve(args)
    try:
        with command.make_context(names[-1] if names else "tcpq", list(rest), parent=ctx):
            pass
    except click.exceptions.Exit as exc:  # --help, --version: printed, then a clean exit
        assert exc.exit_code == 0
    return names


def help_examples(text: str) -> list[str]:
    """The command lines of the help's `Examples:` block (indented, up to the next blank line)."""
    lines = text.splitlines()
    if "Examples:" not in [line.strip() for line in lines]:
        return []
    start = [line.strip() for line in lines].index("Examples:") + 1
    block: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        if block and block[-1].endswith("\\"):
            block[-1] = block[-1][:-1] + line.strip()
        else:
            block.append(line.strip())
    return block


def test_every_command_has_an_examples_file_and_every_file_a_command() -> None:
    expected = {example_file(path) for path in PATHS}
    assert sorted(EXAMPLES.glob("*.txt")) == sorted(expected)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "tcpq")
def test_quoted_help_is_the_live_help(path: tuple[str, ...]) -> None:
    text = example_file(path).read_text(encoding="utf-8")
    # on a change: run the prompt's command, paste its output, and run the session again if an
    # option it uses changed
    assert quoted_help(text, help_prompt(path)) == live_help(path)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "tcpq")
def test_each_file_shows_its_command_run_and_every_typed_tcpq_parses(path: tuple[str, ...]) -> None:
    text = example_file(path).read_text(encoding="utf-8")
    runs = []
    for command in typed_commands(text):
        for args in tcpq_invocations(command):
            ran = parse(args)
            # a group runs through its subcommands (`tcpq lab FILE`); bare `tcpq` only as itself
            if ran[: len(path)] == path and (path or not ran) and "--help" not in args:
                runs.append(command)
    # a session, not only the help: the command itself typed at least once
    assert runs, f"{example_file(path).name} never runs `tcpq {' '.join(path)}`"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "tcpq")
def test_the_examples_in_each_help_parse(path: tuple[str, ...]) -> None:
    for line in help_examples(live_help(path)):
        for args in tcpq_invocations(line):
            parse(args)


def test_the_helpers_catch_what_they_are_for() -> None:
    # the checks above pass vacuously if these find nothing or accept anything
    with pytest.raises(click.UsageError):
        parse(["simulate", "examples/e1.toml", "--no-such-option"])
    with pytest.raises(click.UsageError):
        parse(["no-such-command"])
    assert parse(["lab", "examples/e2-final-ack-overflow.toml"]) == ("lab", "run")
    with pytest.raises(click.UsageError):
        parse(["report"])  # its RESULT.json is missing
    assert tcpq_invocations(
        "COLUMNS=80 sudo .venv/bin/tcpq status --json 2>&1 | jq . > x && tcpq states"
    ) == [
        ["status", "--json"],
        ["states"],
    ]
    assert tcpq_invocations("tcpq top --count 2 >/dev/null") == [["top", "--count", "2"]]
    assert help_examples(live_help(("simulate",)))
    session = "prose\n# tcpq a \\\n    b\n# HELP tcpq_x output\n# X=1 tcpq c\n"
    assert typed_commands(session) == ["tcpq a b", "X=1 tcpq c"]
