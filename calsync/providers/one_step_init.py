"""A frozen dataclass whose instances are made in one step: the generated `__init__` of a frozen dataclass sets
each field through `object.__setattr__`, a call per field, which for the events and attendees a sync normalizes
(tens of thousands per initial sync) was a few microseconds per event (bench/initial_sync_pipe.py)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def one_step_init(cls: type[T]) -> type[T]:
    """Give the frozen dataclass `cls` an `__init__` with the same parameters (order, defaults, default factories)
    that sets the instance's `__dict__` at once. Everything else (equality, hashing, immutability, `replace`) is
    the dataclass's own. Only for dataclasses without `__post_init__`, `InitVar`s or fields left out of init."""
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: one_step_init needs a plain frozen dataclass")
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": dataclasses.MISSING}
    parameters: list[str] = []
    items: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            raise TypeError(f"{cls.__name__}.{field.name}: one_step_init needs every field in __init__")
        name = field.name
        value = name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            parameters.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=_MISSING")
            value = f"_factory_{name}() if {name} is _MISSING else {name}"
        else:
            parameters.append(name)
        items.append(f"{name!r}: {value}")
    source = f"def __init__(self, {', '.join(parameters)}):\n    _set(self, '__dict__', {{{', '.join(items)}}})\n"
    exec(source, namespace)  # noqa: S102 (the source is built from the dataclass's own field names)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
