"""One generic registry for probes, pruners and unlearners: register by name, look up with "did you mean"."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from auditor.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object. Unknown names raise a ConfigError listing the valid ones."""

    def __init__(self, kind: str, items: dict[str, T] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = dict(items or {})
        self._prefixes: dict[str, Callable[[str], T]] = {}

    def register_prefix(self, prefix: str, factory: Callable[[str], T]) -> None:
        """Names ``prefix + rest`` (e.g. ``lm_eval:hellaswag``) resolve to ``factory(rest)``."""
        self._prefixes[prefix] = factory

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        for prefix, factory in self._prefixes.items():
            if name.startswith(prefix) and name not in self._items:
                rest = name[len(prefix) :].strip()
                if not rest:
                    raise ConfigError(f"{self.kind} {name!r} names no task after {prefix!r}; write {prefix}NAME")
                return factory(rest)
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = sorted(self._items) + [f"{p}NAME" for p in self._prefixes]
            raise ConfigError(f"unknown {self.kind} {name!r}{hint}; valid: {', '.join(valid)}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def in_order(self) -> list[str]:
        """The registered names in the order they were registered (the order readers show them in)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items or (isinstance(name, str) and any(name.startswith(p) for p in self._prefixes))

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
