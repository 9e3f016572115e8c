"""`@frozen` against `@dataclass(frozen=True)`: the same class body through both must behave alike.

Each case builds one class body twice, once per decorator, and compares what a user of the
class sees: construction (positional, keyword, defaults, factories, the errors of a bad call),
repr, equality and hash, frozenness, fields(), replace(), asdict(), pickling and copying, and
pydantic's view of it.
"""

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from tcpq.records import frozen

# A field: (name, kind of default, init, compare, repr)
FieldSpec = tuple[str, str, bool, bool, bool]
DEFAULT_KINDS = ("none", "value", "factory")


def _body(specs: list[FieldSpec]) -> dict[str, Any]:
    """The namespace of a class body with these fields (a default never before a required)."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations, "__module__": __name__}
    for name, kind, init, compare, shown in specs:
        annotations[name] = int | list[int] | None
        if kind == "value":
            namespace[name] = dataclasses.field(default=7, init=init, compare=compare, repr=shown)
        elif kind == "factory":
            namespace[name] = dataclasses.field(default_factory=list, init=init, compare=compare, repr=shown)
        elif not (init and compare and shown):
            namespace[name] = dataclasses.field(init=init, compare=compare, repr=shown)
    return namespace


def _twins(specs: list[FieldSpec], slots: bool = False) -> tuple[type, type]:
    reference = dataclasses.dataclass(frozen=True, slots=slots)(type("Twin", (), _body(specs)))
    ours = frozen(slots=slots)(type("Twin", (), _body(specs)))
    return reference, ours


@st.composite
def field_specs(draw: st.DrawFn) -> list[FieldSpec]:
    count = draw(st.integers(min_value=0, max_value=6))
    specs: list[FieldSpec] = []
    defaulted = False
    for index in range(count):
        kind = draw(st.sampled_from(DEFAULT_KINDS[1:] if defaulted else DEFAULT_KINDS))
        init = draw(st.booleans()) if kind != "none" else True
        defaulted = defaulted or (kind != "none" and init)
        specs.append((f"f{index}", kind, init, draw(st.booleans()), draw(st.booleans())))
    return specs


def _outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args, **kwargs)
    except Exception as exc:  # the two must fail alike: same type, same message
        return type(exc).__name__, str(exc).replace("__create_fn__.<locals>.", "")


def _required(specs: list[FieldSpec]) -> list[str]:
    return [name for name, kind, init, _, _ in specs if init and kind == "none"]


def _arguments(specs: list[FieldSpec], values: list[int]) -> dict[str, int]:
    names = [name for name, _, init, _, _ in specs if init]
    return dict(zip(names, values, strict=False))


@settings(max_examples=200, deadline=None)
@given(field_specs(), st.lists(st.integers(-3, 3), max_size=8), st.booleans())
def test_a_frozen_class_behaves_as_a_frozen_dataclass(
    specs: list[FieldSpec], values: list[int], slots: bool
) -> None:
    reference, ours = _twins(specs, slots)
    arguments = _arguments(specs, values)
    positional = list(arguments.values())
    made_ref = _outcome(lambda: reference(*positional))
    made_ours = _outcome(lambda: ours(*positional))
    assert made_ref[0] == made_ours[0]
    if made_ref[0] != "ok":
        assert made_ref[1] == made_ours[1]
        return
    a, b = made_ref[1], made_ours[1]
    assert repr(a) == repr(b)
    assert [f.name for f in dataclasses.fields(a)] == [f.name for f in dataclasses.fields(b)]
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert dataclasses.is_dataclass(b) and ours.__dataclass_params__.frozen
    assert _outcome(lambda: hash(a))[0] == _outcome(lambda: hash(b))[0]
    keyword = dict(arguments)
    again_ref, again_ours = reference(**keyword), ours(**keyword)
    assert (a == again_ref) == (b == again_ours)
    assert (b == a) is False  # another class, even with the same fields
    for name in [f.name for f in dataclasses.fields(a)]:
        assert _outcome(setattr, a, name, 1) == _outcome(setattr, b, name, 1)
    # Another name: dataclass refuses it too, but with slots Python 3.11's generated
    # __setattr__ fails on its own super() call (a TypeError); ours says what it refuses.
    assert _outcome(setattr, b, "other", 1) == (
        "FrozenInstanceError",
        "cannot assign to field 'other'",
    )
    init_names = [name for name, _, init, _, _ in specs if init]
    if init_names:
        changed = {init_names[0]: 99}
        assert repr(dataclasses.replace(a, **changed)) == repr(dataclasses.replace(b, **changed))
    assert repr(copy.deepcopy(b)) == repr(b)


@settings(max_examples=60, deadline=None)
@given(field_specs(), st.integers(0, 8))
def test_a_bad_call_fails_as_the_dataclass_does(specs: list[FieldSpec], extra: int) -> None:
    reference, ours = _twins(specs)
    too_many = list(range(len(specs) + 1 + extra))
    for args, kwargs in ((too_many, {}), ([], {"nope": 1}), ([], {})):
        expected = _outcome(lambda: repr(reference(*args, **kwargs)))  # noqa: B023 (called here)
        assert _outcome(lambda: repr(ours(*args, **kwargs))) == expected  # noqa: B023


@frozen(slots=True)
class Point:
    x: int
    y: list[int] = dataclasses.field(default_factory=list)


@frozen
class Labelled(Point):
    label: str = ""


def test_factories_run_per_instance_and_instances_pickle() -> None:
    first, second = Point(1), Point(1)
    assert first.y == [] and first.y is not second.y
    assert pickle.loads(pickle.dumps(Point(2, [3]))) == Point(2, [3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.x = 5  # type: ignore[misc]


def test_a_frozen_class_can_extend_another() -> None:
    item = Labelled(1, [2], "a")
    assert repr(item) == "Labelled(x=1, y=[2], label='a')"
    assert item != Point(1, [2]) and item == Labelled(1, [2], "a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.label = "b"  # type: ignore[misc]


def test_pydantic_validates_into_a_frozen_class() -> None:
    adapter = TypeAdapter(Labelled)
    made = adapter.validate_python({"x": 4, "y": [1], "label": "z"})
    assert made == Labelled(4, [1], "z")
    assert adapter.dump_python(made) == {"x": 4, "y": [1], "label": "z"}
