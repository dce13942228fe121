"""Remembering the parts of statements already found valid.

Statements repeat themselves: a batch from an LMS names the same few verbs, the same course
activities with the same definitions and the same context activities over and over, and one
learner's statements name the same actor. Checking each such part costs a microsecond or more
of Python per occurrence (several for a context's activities); nearly half of a batch's
validation went to parts the process had already checked.

:func:`remembers_valid` wraps a validator that is a pure function of its value and some keyword
flags (the xAPI version): it keeps the compact JSON text (orjson, in C) of each value the
validator accepted, with the flags, and answers an equal value again without checking it. Only
acceptance is remembered: a value the validator rejects is checked every time, so every error
still names its own path and rule.

Why the JSON text is a sound key: for values as :func:`lrs.xapi.json_types.parse_json` returns
them (plain dicts with string keys, lists, strings, numbers, booleans, None) two values with the
same orjson text are the same JSON value, types included (``1``, ``1.0`` and ``true`` are written
differently; floats in their shortest round-tripping form). ``parse_json`` returns no infinite
float (``1e400`` is a 400, rule ``number-range``), which orjson would write ``null`` like None.
A value orjson cannot write (an integer beyond 64 bits, a lone surrogate, a subclass of dict, str,
int or list, a datetime) is validated as if nothing were remembered. The validators take parsed JSON
only: a tuple or a UUID, which orjson writes as an array or a string, would share a key with what
it looks like. Properties in another order make another key: only a miss.

Memory: each validator keeps texts of at most :data:`LIMIT_BYTES` bytes in all and starts over
when full (as :mod:`lrs.xapi.iris` does for IRIs): a few megabytes a process, whatever the size of
the values (an interaction's definition can run to kilobytes).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

LIMIT_BYTES = 1 << 20
# Subclasses, datetimes and dataclasses raise instead of being written like what they extend.
_ONLY_PLAIN_TYPES = (
    orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)

_Validator = TypeVar("_Validator", bound=Callable[..., Any])


class _Accepted:
    """The keys of one validator's accepted values, and the bytes of JSON text they hold."""

    __slots__ = ("keys", "size")

    def __init__(self) -> None:
        self.keys: set = set()
        self.size = 0

    def add(self, key: Any, text: bytes) -> None:
        if self.size + len(text) > LIMIT_BYTES:
            self.clear()
        self.keys.add(key)
        self.size += len(text)

    def clear(self) -> None:
        self.keys.clear()
        self.size = 0


_remembered: list[_Accepted] = []


def remembers_valid(
    *flags: str, varying: Mapping[str, Callable[..., Any]] | None = None
) -> Callable[[_Validator], _Validator]:
    """Decorate ``validate(value, *, path, <flags>...)``, which returns ``value`` (or None) or
    raises: a value accepted once, with the same ``flags`` keyword values (a flag left out counts
    as its default), is accepted again without being checked.

    ``varying``: properties of an object value that differ from one statement to the next (a
    context's registration), each with the validator ``validate`` applies to it as it is, at
    ``<path>.<name>``, and that no other property's validity depends on. They are left out of
    what is remembered: an object accepted once is accepted again whatever their values, once
    each passes its own validator (a null one, which ``validate`` words otherwise, goes the
    whole way)."""

    def decorate(validate: _Validator) -> _Validator:
        parameters = inspect.signature(validate).parameters
        keyword_only = (*flags, "path")
        assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in keyword_only), flags
        flag_defaults = tuple((flag, parameters[flag].default) for flag in flags)
        accepted = _Accepted()
        _remembered.append(accepted)
        keys = accepted.keys

        def key_of(text: bytes, kwargs: dict[str, Any]) -> Any:
            # Written out for up to two flags: a generator or map over them cost more than the
            # check the memo saves on a small value such as an actor (0.25 us against 0.08).
            if not flag_defaults:
                return text
            if len(flag_defaults) == 1:
                ((flag, default),) = flag_defaults
                return text, kwargs.get(flag, default)
            if len(flag_defaults) == 2:
                (first, first_default), (second, second_default) = flag_defaults
                return text, kwargs.get(first, first_default), kwargs.get(second, second_default)
            return (text, *[kwargs.get(flag, default) for flag, default in flag_defaults])

        @functools.wraps(validate)
        def remembering(value: Any, *args: Any, **kwargs: Any) -> Any:
            if args:  # as the validator answers it (its parameters after the value are keyword-only)
                return validate(value, *args, **kwargs)
            present: list[str] = []
            rest = value
            if varying and type(value) is dict:
                for name in varying:
                    if name in value:
                        if value[name] is None:
                            return validate(value, *args, **kwargs)
                        if rest is value:
                            rest = dict(value)
                        del rest[name]
                        present.append(name)
            try:
                text = orjson.dumps(rest, option=_ONLY_PLAIN_TYPES)
            except (TypeError, orjson.JSONEncodeError):
                return validate(value, *args, **kwargs)
            key = key_of(text, kwargs)
            if key in keys:
                for name in present:
                    varying[name](value[name], path=f"{kwargs['path']}.{name}")  # type: ignore[index]
                return value
            result = validate(value, *args, **kwargs)
            accepted.add(key, text)
            return result

        return remembering  # type: ignore[return-value]

    return decorate


def forget_valid() -> None:
    """Forget every value remembered valid (tests compare outcomes with and without them)."""
    for accepted in _remembered:
        accepted.clear()
