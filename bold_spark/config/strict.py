"""A small strict loader: mappings into frozen dataclasses, naming the file and key on error."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml

from bold_spark.exceptions import ConfigError
from bold_spark.io import files

T = TypeVar("T")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a local path or a URI (``file:``, ``s3a://``, ``abfss://``...,
    through :mod:`bold_spark.io.files`); a missing or malformed file raises ConfigError naming
    it."""
    path = str(path)
    try:
        found = files.exists(path)
    except (OSError, ValueError) as e:  # an unknown scheme or an unreachable store
        raise ConfigError(path, "<file>", f"cannot be read: {type(e).__name__}: {e}") from e
    if not found:
        raise ConfigError(path, "<file>", "file not found")
    try:
        data = yaml.safe_load(files.read_text(path))
    except yaml.YAMLError as e:
        raise ConfigError(str(path), "<file>", f"not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(str(path), "<file>", "top level must be a mapping")
    return data


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, file: str, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], file, key)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"must be a mapping, got {type(value).__name__}")
        return build(tp, value, file, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(file, key, f"must be a list, got {type(value).__name__}")
        (item_tp,) = get_args(tp)[:1]
        items = [_convert(v, item_tp, file, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"must be a mapping, got {type(value).__name__}")
        _, val_tp = get_args(tp)
        return {str(k): _convert(v, val_tp, file, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(
            file, key, f"must be {_type_name(tp)}, got {type(value).__name__} ({value!r})"
        )
    return value


def build(cls: type[T], data: dict[str, Any], file: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys, missing keys and wrong types fail."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            file, prefix + unknown[0], f"unknown key (allowed: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if no_default:
                raise ConfigError(file, prefix + name, "required key is missing")
            continue
        kwargs[name] = _convert(data[name], hints[name], file, prefix + name)
    return cls(**kwargs)
