"""The command line before LightningCLI parses it: which task family it builds, and ``--model.pretrained``.

- :func:`detect_family`: "generative" when the ``model.net`` named last (a class path, class name or
  registry name, in ``--config`` files or options) is a latent-variable model, else "forecasting".
- :func:`expand_pretrained`: ``--model.pretrained X`` / ``--model.init_from X`` become a generated config
  that fills in X's net (and, for ``pretrained``, its data) from X's ``config.json``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from zoo.model_names import read_config
from zoo.models.latent import LatentVariableModel
from zoo.registry import TaskKind


def _model_section(config_value: str) -> dict[str, Any]:
    """The ``model:`` section of a ``--config`` file or YAML string, or {} (the parser reports bad configs)."""
    config, _ = read_config(config_value)
    model = config.get("model") if isinstance(config, dict) else None
    return model if isinstance(model, dict) else {}


def _net_class_paths(argv: Sequence[str]) -> list[str]:
    """``model.net`` class paths named by ``--config`` files and ``--model.net[.class_path]``, in order."""
    found: list[str] = []
    args = list(argv)
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
        if key in ("--config", "-c"):
            net = _model_section(value).get("net")
            path = net.get("class_path") if isinstance(net, dict) else net
            if isinstance(path, str):
                found.append(path)
        elif key in ("--model.net", "--model.net.class_path") and value and not value.startswith("-"):
            try:
                net = yaml.safe_load(value)  # a name, a class path or a {class_path: ...} mapping
            except yaml.YAMLError:
                continue
            path = net.get("class_path") if isinstance(net, dict) else net
            if isinstance(path, str):
                found.append(path)
    return found


def _resolve_class(path: str) -> type | None:
    module_name, _, class_name = path.rpartition(".")
    if module_name:
        try:
            return getattr(importlib.import_module(module_name), class_name, None)
        except ImportError:
            return None
    from zoo.registry import get_model_entry, list_models

    if class_name in list_models():  # a registry name
        builder = get_model_entry(class_name).builder
        return builder if isinstance(builder, type) else None
    builders = (get_model_entry(name).builder for name in list_models())
    return next((b for b in builders if isinstance(b, type) and b.__name__ == class_name), None)


def detect_family(argv: Sequence[str]) -> TaskKind:
    """ "generative" when the last ``model.net`` named is a latent-variable model, else "forecasting".

    Args:
        argv: the command line; ``model.net`` may be a class path, a class name or a registry name
    """
    paths = _net_class_paths(argv)
    cls = _resolve_class(paths[-1]) if paths else None
    return "generative" if isinstance(cls, type) and issubclass(cls, LatentVariableModel) else "forecasting"


def _take_option(argv: list[str], option: str) -> tuple[list[str], str | None]:
    """``argv`` without ``option VALUE`` / ``option=VALUE`` (the last one wins), and that value."""
    rest, value, i = [], None, 0
    while i < len(argv):
        key, eq, inline = argv[i].partition("=")
        if key == option:
            if eq:
                value = inline
            elif i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            else:
                raise SystemExit(f"error: {option} needs a pretrained name or directory")
        else:
            rest.append(argv[i])
        i += 1
    return rest, value


def expand_pretrained(
    argv: Sequence[str], linked_dims: Mapping[str, Sequence[str]]
) -> tuple[list[str], TaskKind | None]:
    """Rewrite ``--model.pretrained X`` / ``--model.init_from X`` into a generated config on the command line.

    Both start the task from the weights of X (``model.init_from``) and fill in ``model.net`` and RevIN
    from X's ``config.json``; ``pretrained`` also fills in the data X was trained and tested on, so
    ``test --model.pretrained tcn.etth1`` alone evaluates it. The generated config goes after the user's
    ``--config`` files (X fixes the architecture) and before the options typed one by one (which refine
    it, e.g. ``--model.net.init_args.dropout=0``). Returns the new argv and the family X belongs to.
    """
    from zoo import hub, registry
    from zoo.registry import get_model_entry

    args = list(argv)
    args, evaluate = _take_option(args, "--model.pretrained")
    args, init_from = _take_option(args, "--model.init_from")
    position = None
    if (
        evaluate is None and init_from is None
    ):  # a config file may name it: fill in what it leaves out, before it
        found = _init_from_in_configs(args)
        if found is None:
            return args, None
        position, init_from = found
    source = init_from or evaluate
    if source in registry.list_models() and not Path(source).is_dir():
        raise hub.architecture_name_error(source)
    where = hub.resolve(source) / hub.CONFIG_NAME
    config = hub.upgrade_config(hub.PretrainedConfig.from_file(where), where)  # RevIN as a net option
    hub.check_model_args(config, where)  # named here, not as an option of the generated config
    entry_class = get_model_entry(config.architecture).builder
    init_args = {k: v for k, v in config.model_args.items() if k not in linked_dims[config.task]}
    model: dict[str, Any] = {
        "net": {"class_path": f"{entry_class.__module__}.{entry_class.__qualname__}", "init_args": init_args},
        "init_from": str(source),
    }
    generated: dict[str, Any] = {"model": model}
    if evaluate is not None and init_from is None:  # as the card measured it (evaluate_pretrained, seed 0)
        generated.update(data=dict(config.preprocessing.get("datamodule", {})), seed_everything=0)
    if position is None:  # after the subcommand and the user's config files, before single options
        configs = [i + 2 for i, arg in enumerate(args) if arg in ("--config", "-c")]
        configs += [i + 1 for i, arg in enumerate(args) if arg.startswith("--config=")]
        position = max(configs, default=1 if args and not args[0].startswith("-") else 0)
    return args[:position] + ["--config", yaml.safe_dump(generated)] + args[position:], config.task


def _init_from_in_configs(args: list[str]) -> tuple[int, str] | None:
    """(position of the ``--config`` that sets ``model.init_from`` without ``model.net``, its value)."""
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if key not in ("--config", "-c"):
            continue
        model = _model_section(value if eq else (args[i + 1] if i + 1 < len(args) else ""))
        if model.get("init_from") and "net" not in model:
            return i, str(model["init_from"])
    return None
