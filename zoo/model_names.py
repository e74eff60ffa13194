"""Registry names wherever the command line names a network: ``--model.net lstm`` beside class paths.

jsonargparse knows ``model.net`` as a subclass of ``nn.Module``: a ``class_path`` (``zoo.models.TCNForecaster``)
or a bare class name. :func:`expand_model_names` rewrites the command line before it is parsed, as
``zoo.cli_argv.expand_pretrained`` does for ``--model.pretrained``: a registered name (``zoo.list_models()``)
becomes ``{class_path: <its builder>, init_args: <the variant's defaults>}``, in

- ``--model.net NAME``, ``--model.net=NAME``, ``--model.net.class_path NAME`` and ``--model.net '{class_path:
  NAME, init_args: {...}}'``;
- the ``model.net`` of a ``--config`` file or string (``net: NAME`` or ``net: {class_path: NAME, init_args:
  ...}``); such a file is handed to the parser as the rewritten YAML text, any other file is left alone.

Init args the user gives override the variant's defaults: in the same spec, and later on the command line
(``--model.net tcn --model.net.init_args.hidden_channels 64``), by jsonargparse's merging. Defaults on
dims the data fixes (``seq_len``, ``n_features``, ...) are left out: the CLI links those from ``data``.
An unknown bare name is a :class:`UnknownModelError` naming the closest registered ones.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

NET_OPTIONS = ("--model.net", "--model.net.class_path")
CONFIG_OPTIONS = ("--config", "-c")


class UnknownModelError(ValueError):
    """A bare ``model.net`` name that is neither a registered model nor a registered class."""


def _is_bare_name(value: str) -> bool:
    """A name without module path: a registry name (``nbeats_interpretable``) or a class name (``VAE``)."""
    return bool(value) and value.replace("_", "").replace("-", "").isalnum()


def net_spec(name: str, linked_dims: Mapping[str, Sequence[str]], where: str) -> dict[str, Any] | None:
    """The ``{class_path, init_args}`` spec of registered model ``name``; None for a registered class name.

    Args:
        name: a bare name from the command line or a config
        linked_dims: per task family ("forecasting", "generative"), the dims the data fixes
        where: the option or file that gave ``name``, for messages
    """
    from zoo.registry import get_model_entry, list_models

    known = list_models()
    if name not in known:
        classes = {getattr(get_model_entry(n).builder, "__name__", "") for n in known}
        if name in classes:  # jsonargparse resolves a registered class by its name
            return None
        close = difflib.get_close_matches(name, known, n=4, cutoff=0.5)
        hint = (
            f"did you mean {', '.join(map(repr, close))}?"
            if close
            else f"registered models: {', '.join(known)}"
        )
        raise UnknownModelError(
            f"{where}: unknown model {name!r}; {hint} (`train.py list` shows them all; a class path such as "
            f"zoo.models.TCNForecaster works too)"
        )
    entry = get_model_entry(name)
    fixed = set(linked_dims.get(entry.task, ()))
    dropped = sorted(fixed & set(entry.defaults))
    if dropped:
        log.info("%s: %r's defaults for %s are left to the data, which fixes them", where, name, dropped)
    spec: dict[str, Any] = {"class_path": f"{entry.builder.__module__}.{entry.builder.__qualname__}"}
    defaults = {k: _plain(v) for k, v in entry.defaults.items() if k not in fixed}
    if defaults:
        spec["init_args"] = defaults
    return spec


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, as YAML (and so the parser) writes them."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def expand_net(value: Any, linked_dims: Mapping[str, Sequence[str]], where: str) -> Any:
    """``value`` (a ``model.net`` spec: a name, a class path or a mapping) with registry names expanded.

    Args:
        value: the spec as given
        linked_dims: per task family, the dims the data fixes (left out of the variant's defaults)
        where: the option or file that gave ``value``, for messages
    """
    if isinstance(value, str) and _is_bare_name(value):
        return net_spec(value, linked_dims, where) or value
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("class_path"), str)
        and _is_bare_name(value["class_path"])
    ):
        spec = net_spec(value["class_path"], linked_dims, where)
        if spec is None:
            return value
        user_args = value.get("init_args") or {}
        if not isinstance(user_args, Mapping):
            return value  # the parser reports a malformed init_args itself
        init_args = {**spec.get("init_args", {}), **user_args}
        return {**value, "class_path": spec["class_path"], **({"init_args": init_args} if init_args else {})}
    return value


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # YAML text, not a path: a name too long, a NUL
        return False


def read_config(value: str) -> tuple[Any, str]:
    """A ``--config`` value's content (a file, else the YAML text itself) and what to call it in messages;
    (None, "") when unreadable (the parser reports that itself).

    Args:
        value: the value given to ``--config``
    """
    try:
        if _is_file(value):
            return yaml.safe_load(Path(value).read_text()), value
        return yaml.safe_load(value), "--config"
    except (OSError, ValueError, yaml.YAMLError):
        return None, ""


def _expand_config(value: str, linked_dims: Mapping[str, Sequence[str]]) -> str:
    """The ``--config`` value, or its content as YAML text when its ``model.net`` names a registered model."""
    config, where = read_config(value)
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict) or "net" not in model:
        return value
    net = expand_net(model["net"], linked_dims, f"{where} (model.net)")
    if net == model["net"]:
        return value
    return yaml.safe_dump({**config, "model": {**model, "net": net}}, sort_keys=False)


def _expand_option(option: str, value: str, linked_dims: Mapping[str, Sequence[str]]) -> str:
    """The value of a ``--model.net[.class_path]`` option with a registry name expanded (YAML flow text)."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if option == "--model.net.class_path" and isinstance(parsed, str):
        parsed = {"class_path": parsed}
    expanded = expand_net(parsed, linked_dims, option)
    if expanded == parsed:
        return value
    return (
        expanded if isinstance(expanded, str) else yaml.safe_dump(expanded, default_flow_style=True).strip()
    )


def expand_model_names(argv: Sequence[str], linked_dims: Mapping[str, Sequence[str]]) -> list[str]:
    """``argv`` with every registry name given for ``model.net`` expanded to its class path and defaults.

    ``--model.net.class_path NAME`` becomes ``--model.net {class_path: ..., init_args: ...}``; every other
    option keeps its place and form (``--opt VALUE`` or ``--opt=VALUE``).

    Args:
        argv: the command line after ``train.py``
        linked_dims: per task family ("forecasting", "generative"), the dims the data fixes
    """
    args = list(argv)
    out: list[str] = []
    i = 0
    while i < len(args):
        key, eq, inline = args[i].partition("=")
        has_value = bool(eq) or i + 1 < len(args)
        if key in NET_OPTIONS + CONFIG_OPTIONS and has_value and (eq or not args[i + 1].startswith("-")):
            value = inline if eq else args[i + 1]
            if key in CONFIG_OPTIONS:
                new_key, new_value = key, _expand_config(value, linked_dims)
            else:
                new_value = _expand_option(key, value, linked_dims)
                new_key = "--model.net" if new_value != value else key
            out += [f"{new_key}={new_value}"] if eq else [new_key, new_value]
            i += 1 if eq else 2
            continue
        out.append(args[i])
        i += 1
    return out
