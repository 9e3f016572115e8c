"""`@frozen`: a frozen dataclass whose methods are shared, not compiled per class at import.

Python 3.11's `@dataclass(frozen=True)` writes six functions per class as source text and
compiles each when the module is imported (__init__, __repr__, __eq__, __hash__, __setattr__,
__delattr__): 0.4-1.4 ms a class here, 35 ms for the 49 classes on `tcpq status`'s import
path, whose whole run at 10k sockets must fit in `ss -tanp`'s ~160 ms (docs/benchmarks.md).

`frozen` lets `dataclasses` collect the fields, so such a class *is* a dataclass to every reader of
them (`fields()`, `replace()`, `asdict()`, `is_dataclass()`, pydantic), and gives it methods
that mean what dataclass's mean: equality and hash over the fields compared, in order, between
instances of exactly the same class; a repr of the fields shown; no assignment after __init__.
Only __init__ depends on the class's signature: it is compiled the first time the class is
instantiated, so a command pays only for the classes it builds.
"""

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")
_MISSING = dataclasses.MISSING
_FrozenInstanceError = dataclasses.FrozenInstanceError


@overload
def frozen(cls: type[_T], /) -> type[_T]: ...
@overload
def frozen(*, slots: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: type[_T] | None = None, /, *, slots: bool = False) -> Any:
    """`@frozen` or `@frozen(slots=True)`: as `@dataclass(frozen=True[, slots=True])`."""

    def wrap(target: type[_T]) -> type[_T]:
        return _make(target, slots)

    return wrap if cls is None else wrap(cls)


def _make(cls: type[_T], slots: bool) -> type[_T]:
    if cls.__doc__ is None:
        # dataclass would build one from inspect.signature (the priciest step left).
        cls.__doc__ = cls.__name__
    # dataclass refuses a non-frozen subclass of a frozen dataclass: under one, say frozen (and
    # pay for the two functions it then compiles, replaced below).
    under_frozen = any(_is_frozen(base) for base in cls.__mro__[1:])
    made: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=under_frozen, slots=slots)
    fields = dataclasses.fields(made)
    made._record_key = staticmethod(_getter([f.name for f in fields if f.compare]))
    made._record_hash_key = staticmethod(
        _getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)])
    )
    made._record_shown = tuple(f.name for f in fields if f.repr)
    made.__init__ = _first_init(made)
    made.__eq__ = _eq
    made.__hash__ = _hash
    made.__repr__ = _repr
    made.__setattr__ = _setattr
    made.__delattr__ = _delattr
    if slots:  # as dataclass gives a frozen slotted class: copy and pickle without setattr
        made.__getstate__ = _getstate
        made.__setstate__ = _setstate
    _mark_frozen(made.__dataclass_params__)
    result: type[_T] = made
    return result


def _is_frozen(cls: type) -> bool:
    params = cls.__dict__.get("__dataclass_params__")
    return params is not None and bool(params.frozen)


def _mark_frozen(params: Any) -> None:
    """What a reader of the class's dataclass parameters (pydantic) must see: this class has
    an __init__, a repr and equality, and is frozen. (Its own object, made for this class.)"""
    for name in ("init", "repr", "eq", "frozen"):
        setattr(params, name, True)


def _getter(names: list[str]) -> Callable[[object], tuple[Any, ...]]:
    if not names:
        return lambda _: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda value: (one(value),)
    many: Callable[[object], tuple[Any, ...]] = attrgetter(*names)
    return many


def _eq(self: Any, other: Any) -> object:  # bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    key: Callable[[object], tuple[Any, ...]] = self._record_key
    return key(self) == key(other)


def _hash(self: Any) -> int:
    return hash(self._record_hash_key(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
    return f"{self.__class__.__qualname__}({shown})"


def _setattr(self: object, name: str, value: object) -> None:
    raise _FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise _FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)


def _first_init(cls: Any) -> Callable[..., None]:
    """An __init__ that compiles the class's own on its first call and hands over to it."""

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        real = _compile_init(cls)
        type.__setattr__(cls, "__init__", real)
        real(self, *args, **kwargs)

    return __init__


def _compile_init(cls: Any) -> Callable[..., None]:
    """dataclass's __init__ for a frozen class: parameters in field order, defaults as given,
    a default_factory called per instance, fields with init=False set from their default,
    then __post_init__ if the class has one."""
    scope: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": _MISSING}
    parameters: list[str] = []
    body: list[str] = []
    keyword_only: list[str] = []
    for f in dataclasses.fields(cls):
        value = f.name
        if f.default is not _MISSING:
            scope[f"_default_{f.name}"] = f.default
            default = f"_default_{f.name}"
        elif f.default_factory is not _MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            default = "_MISSING"
            value = f"_factory_{f.name}() if {f.name} is _MISSING else {f.name}"
        else:
            default = ""
        if not f.init:
            if not default:
                continue  # no value at all: dataclass leaves it unset too
            value = f"_factory_{f.name}()" if default == "_MISSING" else default
        else:
            parameter = f"{f.name}={default}" if default else f.name
            (keyword_only if f.kw_only else parameters).append(parameter)
        body.append(f"    _set(self, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *parameters, *(["*", *keyword_only] if keyword_only else [])])
    source = f"def __init__({signature}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(compile(source, f"<record {cls.__qualname__}.__init__>", "exec"), scope)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init
