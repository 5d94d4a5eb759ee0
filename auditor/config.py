"""Typed, validated configuration from YAML: frozen dataclasses, unknown keys rejected by their path.

``load_config(Cls, path, overrides=["mia.attacks=[loss]"])`` reads YAML, applies ``--set key=value``
overrides (values parsed as YAML), and builds ``Cls``, checking every key and type. Errors name the
key's full path (``mia.attack: unknown key; valid keys: attacks, ...``).

YAML is read with :class:`ConfigLoader`: YAML 1.1 without its base-60 numbers, so ``structure: 2:4``
is the string ``"2:4"``, not the integer 124, and a key given twice in one mapping is an error naming its
line (plain YAML keeps the last silently). Every config and policy file is read through :func:`read_yaml`.
Numbers must be finite (no ``.nan`` / ``.inf``), and the integer keys of :data:`KEY_MINIMUMS` have a least value
wherever they appear (``seed`` >= 0, ``batch_size`` >= 1, ...).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from auditor.errors import ConfigError
from auditor.inputs.data import read_utf8

T = TypeVar("T")

# integer keys with a least value wherever they appear, in any section (None stays allowed where the type has it)
KEY_MINIMUMS: dict[str, int] = {"seed": 0, "batch_size": 1, "limit": 1, "n_boot": 1, "n_samples": 1, "seq_len": 1}
NONNEGATIVE_KEYS = frozenset(k for k, v in KEY_MINIMUMS.items() if v == 0)  # the name older callers import


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping: ``key``, and the lines (1-based) of its first and second use."""

    def __init__(self, key: object, first: int, again: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", again)
        self.key, self.first, self.again = key, first, again.line + 1


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without YAML 1.1's base-60 ints and floats (``2:4`` stays the string "2:4"), and with
    duplicate keys refused (:class:`DuplicateKeyError`) instead of the last one silently winning."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        """The mapping of ``node``; a key seen twice in it (merge keys ``<<`` aside) raises DuplicateKeyError."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, seen[key], key_node.start_mark)
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: the base class says so
                    break
        return super().construct_mapping(node, deep=deep)


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, where: str) -> Any:
    """``text`` read with :class:`ConfigLoader`; a syntax error is one ConfigError line naming ``where``."""
    try:
        return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader: no arbitrary objects
    except DuplicateKeyError as e:
        raise ConfigError(
            f"{where}:{e.again}: key {e.key!r} is given twice (first at line {e.first}); keep one of them"
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}{at}); check the quoting and indentation") from e


def read_yaml(path: str | Path, what: str = "YAML config file") -> Any:
    """The YAML file at ``path`` read with :class:`ConfigLoader` (UTF-8, duplicate keys refused); a missing file,
    a folder or bad YAML is one ConfigError / InputError line naming the file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"{what} not found: {p}; check the path")
    return parse_yaml(read_utf8(p, what), str(p))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{path}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping of {_type_name(tp)} keys, got {value!r}")
        return build(tp, value, path + ".")
    if origin in (tuple, list):
        if isinstance(value, str | int | float):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        seq = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}; give an ordinary number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}; put the value in quotes")
        return value
    return value


def build(cls: type[T], data: dict, prefix: str = "") -> T:
    """``cls(**data)`` with every key checked; nested dataclasses built recursively."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}: unknown key; valid keys: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], prefix + name)
            least = KEY_MINIMUMS.get(name)
            if least is not None and isinstance(kwargs[name], int) and kwargs[name] < least:
                raise ConfigError(f"{prefix}{name}: must be a whole number >= {least}, got {kwargs[name]}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{name}: required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {e}") from e


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a raw config mapping."""
    data = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set mia.n_boot=200")
        node = data
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set {item!r}: {key!r} has an empty part; write keys like mia.n_boot")
        for p in parts[:-1]:
            child = node.get(p)
            node[p] = dict(child) if isinstance(child, dict) else {}
            node = node[p]
        node[parts[-1]] = parse_yaml(raw, f"--set {item}")
    return data


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    """``cls`` built from the YAML file at ``path`` (None: no file) with the ``--set`` overrides applied."""
    data: dict = {}
    if path is not None:
        p = Path(path).expanduser()
        data = read_yaml(p) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of keys")
    return build(cls, apply_overrides(data, overrides or []))


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
