"""LoRA adapters for every model in the zoo (Hu et al., "LoRA: Low-Rank Adaptation of Large Language
Models", ICLR 2022), with the names and file layout of Hugging Face PEFT.

One mechanism for every layer kind: an adapter is a low-rank update of a *weight tensor*,
``W' = W + s * B A`` with ``s = lora_alpha / r`` (or ``lora_alpha / sqrt(r)``, rsLoRA, Kalajdzievski
2023), A random and B zero at initialisation, so a fresh adapter changes nothing. :class:`LoraLayer`
wraps the adapted module and runs the module's own operation with the updated weights (for RNNs through
``torch.func.functional_call``), for

- ``nn.Linear`` (attention projections, MLPs, N-BEATS blocks): A (r, in), B (out, r);
- ``nn.Conv1d`` and :class:`~zoo.layers.causal_conv.CausalConv1d` (token embeddings, TCN, also under
  ``weight_norm``): A (r, in, K), B (out, r, 1): PEFT's Conv1d layout, ``B A`` contracted over r;
- ``nn.LSTM`` / ``nn.GRU``: every ``weight_ih_l*`` and ``weight_hh_l*`` matrix (all gates at once), which
  PEFT cannot adapt because cuDNN consumes the weights inside one fused call.

The base's batch-norm layers keep their running statistics during adaptation (held in eval mode), so
the frozen base is bit-identical afterwards, buffers included. ``lora_dropout`` drops the adapter's input as in PEFT, ``s * B A dropout(x)`` beside the frozen layer,
for ``nn.Linear`` and ``nn.Conv1d``. The update of a causal convolution (its activation may be fused)
or of a recurrent matrix (its input is each step's x_t / h_t inside the fused kernel) is applied to the
weight only, so dropout does not apply there; a warning says so.

Each model class names the layers it adapts by default (``lora_target_modules``, a list of module-name
suffixes or a regular expression); ``LoraConfig.target_modules`` overrides it with PEFT's matching rules
(a string is a full-match regular expression, a list matches names equal to or ending in ``.<entry>``).
The net is modified in place and keeps its class, so tasks, the registry and ``save_pretrained`` work on it
unchanged; the functions below carry PEFT's method names. Files: :mod:`zoo.adapters.adapter_io`.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from kernels import causal_conv1d
from zoo.choices import check_choice
from zoo.layers.causal_conv import CausalConv1d

log = logging.getLogger(__name__)

ADAPTABLE = (nn.Linear, nn.Conv1d, CausalConv1d, nn.LSTM, nn.GRU)
_DROPOUT_KINDS = (nn.Linear, nn.Conv1d)  # layers whose adapter sees the layer's input


@dataclass
class LoraConfig:
    """PEFT's ``LoraConfig`` fields that apply here.

    Args:
        r: rank of the update.
        lora_alpha: scale numerator: the update B A is scaled by lora_alpha / r.
        lora_dropout: dropout on the adapter's input (Linear and Conv1d layers).
        target_modules: names to adapt (list of suffixes, or a full-match regex); None: the model's default.
        modules_to_save: modules trained in full beside the adapters (e.g. a head), saved with them; None
            trains a probabilistic forecaster's distribution head (:func:`default_modules_to_save`), [] nothing.
        use_rslora: scale by lora_alpha / sqrt(r), not lora_alpha / r (rank-stabilised LoRA).
        init_lora_weights: True (A Kaiming-uniform as ``nn.Linear``, B zero), "gaussian" (A ~ N(0, 1/r),
            B zero), or False (B random too: not a no-op; for tests).
    """

    r: int = 8
    lora_alpha: float = 8.0
    lora_dropout: float = 0.0
    target_modules: list[str] | str | None = None
    modules_to_save: list[str] | None = None
    use_rslora: bool = False
    init_lora_weights: bool | Literal["gaussian"] = True

    def __post_init__(self) -> None:
        if self.r <= 0:
            raise ValueError(f"LoraConfig: r must be positive, got {self.r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"LoraConfig: lora_dropout must lie in [0, 1), got {self.lora_dropout}")
        check_choice(
            "init_lora_weights", self.init_lora_weights, (True, False, "gaussian"), owner="LoraConfig"
        )

    @property
    def scaling(self) -> float:
        return self.lora_alpha / (math.sqrt(self.r) if self.use_rslora else self.r)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def adapted_parameters(module: nn.Module) -> list[str]:
    """The weight tensors an adapter updates: ``weight``, or every input/recurrent matrix of an RNN."""
    if isinstance(module, (nn.LSTM, nn.GRU)):
        return [name for name in module._flat_weights_names if name.startswith(("weight_ih", "weight_hh"))]
    return ["weight"]


class LoraLayer(nn.Module):
    """A module of an adaptable kind plus its adapters (``lora_A[name][param]``, ``lora_B[name][param]``)."""

    def __init__(self, base_layer: nn.Module) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.param_names = adapted_parameters(base_layer)
        self.lora_A = nn.ModuleDict()
        self.lora_B = nn.ModuleDict()
        self.lora_dropout = nn.ModuleDict()
        self.scaling: dict[str, float] = {}
        self.active_adapters: list[str] = []
        self.merged_adapters: list[str] = []
        self.disabled = False

    def update_layer(self, adapter: str, config: LoraConfig) -> None:
        """Create adapter ``adapter``'s factors for every adapted weight and initialise them."""
        factors_a, factors_b = nn.ParameterDict(), nn.ParameterDict()
        for name in self.param_names:
            weight = getattr(self.base_layer, name)
            out_features, in_features, *kernel = weight.shape
            a = torch.empty(config.r, in_features, *kernel, dtype=weight.dtype, device=weight.device)
            b = torch.zeros(
                out_features, config.r, *[1] * len(kernel), dtype=weight.dtype, device=weight.device
            )
            if config.init_lora_weights == "gaussian":
                nn.init.normal_(a, std=1.0 / config.r)
            else:
                nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # nn.Linear's (and PEFT's) initialisation
            if config.init_lora_weights is False:
                nn.init.normal_(b, std=0.02)
            factors_a[name], factors_b[name] = nn.Parameter(a), nn.Parameter(b)
        self.lora_A[adapter], self.lora_B[adapter] = factors_a, factors_b
        self.lora_dropout[adapter] = (
            nn.Dropout(config.lora_dropout) if config.lora_dropout > 0 else nn.Identity()
        )
        self.scaling[adapter] = config.scaling

    def delta_weight(self, adapter: str, name: str) -> torch.Tensor:
        """``s * B A`` in the shape of the weight ``name``: (out, in) or (out, in, K)."""
        a, b = self.lora_A[adapter][name], self.lora_B[adapter][name]
        delta = (b.flatten(1) @ a.flatten(1)).view(b.shape[0], *a.shape[1:])
        return delta * self.scaling[adapter]

    def _live(self) -> list[str]:
        if self.disabled:
            return []
        return [a for a in self.active_adapters if a in self.lora_A and a not in self.merged_adapters]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        live = self._live()
        recurrent = isinstance(self.base_layer, (nn.LSTM, nn.GRU))
        if not live:
            return self.base_layer(*args, **kwargs)
        dropping = [a for a in live if isinstance(self.lora_dropout[a], nn.Dropout)]
        if self.training and dropping and isinstance(self.base_layer, _DROPOUT_KINDS):
            out = self.base_layer(*args, **kwargs)
            for adapter in live:  # the adapter beside the frozen layer, on a dropped-out input (PEFT)
                out = out + self._apply_weight(
                    self.lora_dropout[adapter](args[0]), self.delta_weight(adapter, "weight")
                )
            return out
        weights = {
            name: getattr(self.base_layer, name) + sum(self.delta_weight(a, name) for a in live)
            for name in self.param_names
        }
        if recurrent:
            with warnings.catch_warnings():  # the updated matrices are not cuDNN's one flat buffer, by design
                warnings.filterwarnings(
                    "ignore", message="RNN module weights are not part of single contiguous"
                )
                return functional_call(self.base_layer, weights, args, kwargs)
        return self._apply_weight(args[0], weights["weight"], self.base_layer.bias)

    def _apply_weight(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The layer's own operation with ``weight`` in place of its (possibly weight-normed) weight."""
        base = self.base_layer
        if isinstance(base, nn.Linear):
            return F.linear(x, weight, bias)
        if isinstance(base, CausalConv1d):  # the activation, if fused, follows the updated convolution
            return causal_conv1d(
                x,
                weight,
                bias,
                dilation=base.dilation,
                groups=base.groups,
                activation=base.activation,
                backend=base.backend,
            )
        return base._conv_forward(x, weight, bias)  # nn.Conv1d: keeps padding mode, stride and dilation

    def merge(self) -> None:
        """Fold the live adapters into the base weights (through ``weight_norm`` if present)."""
        for adapter in self._live():
            for name in self.param_names:
                _set_weight(
                    self.base_layer, name, getattr(self.base_layer, name) + self.delta_weight(adapter, name)
                )
            self.merged_adapters.append(adapter)

    def unmerge(self) -> None:
        """Subtract the merged adapters from the base weights again."""
        while self.merged_adapters:
            adapter = self.merged_adapters.pop()
            for name in self.param_names:
                _set_weight(
                    self.base_layer, name, getattr(self.base_layer, name) - self.delta_weight(adapter, name)
                )


class ModulesToSave(nn.Module):
    """A module trained in full during adaptation: the frozen original plus one trainable copy per adapter."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.original_module = module
        self.modules_to_save = nn.ModuleDict()
        self.active_adapter: str | None = None
        self.disabled = False

    def add(self, adapter: str) -> None:
        self.modules_to_save[adapter] = copy.deepcopy(self.original_module)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.disabled or self.active_adapter not in self.modules_to_save:
            return self.original_module(*args, **kwargs)
        return self.modules_to_save[self.active_adapter](*args, **kwargs)


def _set_weight(module: nn.Module, name: str, value: torch.Tensor) -> None:
    with torch.no_grad():
        if nn.utils.parametrize.is_parametrized(module, name):
            setattr(module, name, value.detach())  # right_inverse: weight_norm re-derives g and v
        else:
            getattr(module, name).copy_(value)


# ----------------------------------------------------------------------------------- injection
def default_target_modules(net: nn.Module) -> list[str] | str:
    """The layers a model adapts by default: its class's ``lora_target_modules``."""
    targets = getattr(net, "lora_target_modules", None)
    if targets is None:
        raise ValueError(
            f"{type(net).__name__} names no default LoRA targets; pass LoraConfig(target_modules=...)"
        )
    return targets


def default_modules_to_save(net: nn.Module, adapted: set[str]) -> list[str] | None:
    """What a LoRA config that names no ``modules_to_save`` trains in full: a probabilistic forecaster's
    distribution head (``zoo.layers.distribution_heads``, a few thousand weights that set the interval
    widths, which new data rarely shares), as PEFT trains a classifier's head in full; else nothing.

    Args:
        net: the model being adapted.
        adapted: the names of its layers that get adapters.
    """
    if getattr(net, "distribution_head", None) is None:
        return None
    if any(name == "distribution_head" or name.startswith("distribution_head.") for name in adapted):
        return None  # the targets adapt the head already
    return ["distribution_head"]


def _matches(name: str, targets: list[str] | str) -> str | None:
    """The target entry that selects module ``name`` (PEFT's rules), or None."""
    if isinstance(targets, str):
        return targets if re.fullmatch(targets, name) else None
    return next((t for t in targets if name == t or name.endswith(f".{t}")), None)


def _base_modules(net: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) of the base model, skipping the adapters' own modules and copies."""
    skip: list[str] = []
    for name, module in net.named_modules():
        if any(name.startswith(s) for s in skip):
            continue
        if isinstance(module, LoraLayer):
            skip += [f"{name}.lora_", f"{name}.base_layer"]
            yield name, module
        elif isinstance(module, ModulesToSave):
            skip.append(f"{name}.")
            yield name, module
        else:
            yield name, module


def _replace(net: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(net.get_submodule(parent_name) if parent_name else net, child, new)


def get_lora_model(net: nn.Module, config: LoraConfig, adapter_name: str = "default") -> nn.Module:
    """Add adapter ``adapter_name`` to ``net`` (in place), make it active and trainable, freeze the rest.

    Returns ``net``. A second call with another name adds a second adapter (``set_adapter`` switches).
    """
    if adapter_name in lora_configs(net):
        raise ValueError(
            f"adapter {adapter_name!r} already exists on {type(net).__name__}; choose another name"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", adapter_name):
        raise ValueError(f"adapter name {adapter_name!r} must be an identifier (it becomes a state-dict key)")
    targets = config.target_modules if config.target_modules is not None else default_target_modules(net)
    # Plan and check everything first, so that a bad config leaves the net untouched.
    planned: list[tuple[str, nn.Module]] = []
    used: set[str] = set()
    for name, module in _base_modules(net):
        entry = _matches(name, targets) if name else None
        base = module.base_layer if isinstance(module, LoraLayer) else module
        if entry is not None and not isinstance(module, ModulesToSave) and isinstance(base, ADAPTABLE):
            used.add(entry)
            planned.append((name, module))
    if isinstance(targets, list) and set(targets) - used:
        kinds = ", ".join(k.__name__ for k in ADAPTABLE)
        raise ValueError(
            f"target_modules {sorted(set(targets) - used)} match no adaptable layer ({kinds}) of "
            f"{type(net).__name__}"
        )
    if not planned:
        raise ValueError(f"target_modules {targets!r} match no adaptable layer of {type(net).__name__}")
    adapted_names = {name for name, _ in planned} | {name for name, _ in lora_layers(net)}
    if config.modules_to_save is None:
        config = replace(config, modules_to_save=default_modules_to_save(net, adapted_names))
    saved: list[str] = []
    for entry in config.modules_to_save or []:
        matched = [n for n, _ in _base_modules(net) if n and _matches(n, [entry])]
        if not matched:
            raise ValueError(f"modules_to_save entry {entry!r} matches no module of {type(net).__name__}")
        if adapted_names & set(matched):
            raise ValueError(
                f"modules_to_save entry {entry!r} is also a LoRA target; a module is adapted or saved, "
                "not both: narrow target_modules"
            )
        saved += matched
    for name, module in planned:
        base = module.base_layer if isinstance(module, LoraLayer) else module
        layer = module if isinstance(module, LoraLayer) else LoraLayer(base).train(base.training)
        layer.update_layer(adapter_name, config)
        if layer is not module:
            _replace(net, name, layer)
    no_dropout = [
        name
        for name, module in planned
        if not isinstance(getattr(module, "base_layer", module), _DROPOUT_KINDS)
    ]
    if config.lora_dropout > 0 and no_dropout:
        log.warning(
            "lora_dropout applies to Linear and Conv1d targets only, not to %s (their update acts on "
            "the weight)",
            ", ".join(no_dropout),
        )
    for name in saved:
        module = net.get_submodule(name)
        wrapper = (
            module if isinstance(module, ModulesToSave) else ModulesToSave(module).train(module.training)
        )
        wrapper.add(adapter_name)
        if wrapper is not module:
            _replace(net, name, wrapper)
    if "_lora_configs" not in net.__dict__:
        net.__dict__["_lora_hooks"] = _freeze_batch_statistics(net)
    net.__dict__.setdefault("_lora_configs", {})[adapter_name] = config
    set_adapter(net, adapter_name)
    return net


def _freeze_batch_statistics(net: nn.Module) -> list[Any]:
    """Keep the base's batch-norm layers in eval mode (running statistics used, never updated), so the
    frozen base stays bit-identical through fine-tuning, buffers included (Informer's distilling layers)."""

    def keep_eval(module: nn.Module, args: Any) -> None:
        module.train(False)

    return [
        m.register_forward_pre_hook(keep_eval)
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]


def lora_configs(net: nn.Module) -> dict[str, LoraConfig]:
    """The adapters on ``net`` by name."""
    return dict(net.__dict__.get("_lora_configs", {}))


def lora_layers(net: nn.Module) -> list[tuple[str, LoraLayer]]:
    return [(n, m) for n, m in net.named_modules() if isinstance(m, LoraLayer)]


def is_merged(net: nn.Module) -> bool:
    """Whether some adapter is folded into the base weights (``merge``)."""
    return any(layer.merged_adapters for _, layer in lora_layers(net))


def set_adapter(net: nn.Module, adapter_name: str) -> None:
    """Make ``adapter_name`` the active adapter: the only one applied and the only one trainable."""
    if adapter_name not in lora_configs(net):
        raise KeyError(
            f"no adapter {adapter_name!r} on {type(net).__name__}; adapters: {sorted(lora_configs(net))}"
        )
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    for module in net.modules():
        if isinstance(module, LoraLayer):
            module.active_adapters = [adapter_name]
            for factors in (module.lora_A, module.lora_B):
                if adapter_name in factors:
                    factors[adapter_name].requires_grad_(True)
        elif isinstance(module, ModulesToSave):
            module.active_adapter = adapter_name
            if adapter_name in module.modules_to_save:
                module.modules_to_save[adapter_name].requires_grad_(True)
    net.__dict__["_lora_active"] = adapter_name


def active_adapter(net: nn.Module) -> str | None:
    return net.__dict__.get("_lora_active")


def trainable_parameters(net: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameter counts, the base's frozen weights counted once."""
    seen: set[int] = set()
    trainable = total = 0
    for parameter in net.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total


def print_trainable_parameters(net: nn.Module) -> None:
    """One line to stdout, as PEFT's method: trainable and total parameters and the trainable share."""
    trainable, total = trainable_parameters(net)
    sys.stdout.write(
        f"trainable params: {trainable:,} || all params: {total:,} || "
        f"trainable%: {100 * trainable / max(total, 1):.4f}\n"
    )


@contextmanager
def disable_adapter(net: nn.Module) -> Iterator[None]:
    """Run the base model inside the block (adapters and saved-module copies switched off)."""
    if is_merged(net):
        raise RuntimeError("disable_adapter: adapters are merged into the weights; unmerge(net) first")
    wrappers = [m for m in net.modules() if isinstance(m, (LoraLayer, ModulesToSave))]
    for module in wrappers:
        module.disabled = True
    try:
        yield
    finally:
        for module in wrappers:
            module.disabled = False


def merge(net: nn.Module) -> None:
    """Fold the active adapter into the base weights: same outputs, no adapter cost at inference."""
    for _, layer in lora_layers(net):
        layer.merge()


def unmerge(net: nn.Module) -> None:
    """Undo :func:`merge` (up to rounding)."""
    for _, layer in lora_layers(net):
        layer.unmerge()


def merge_and_unload(net: nn.Module) -> nn.Module:
    """Merge the active adapter and remove every adapter module: the plain model, same class and keys."""
    merge(net)
    for name, module in list(net.named_modules()):
        if isinstance(module, LoraLayer):
            _replace(net, name, module.base_layer)
        elif isinstance(module, ModulesToSave):
            chosen = (
                module.modules_to_save[module.active_adapter]
                if module.active_adapter in module.modules_to_save
                else module.original_module
            )
            _replace(net, name, chosen)
    for parameter in net.parameters():
        parameter.requires_grad_(True)
    for handle in net.__dict__.pop("_lora_hooks", []):
        handle.remove()
    net.__dict__.pop("_lora_configs", None)
    net.__dict__.pop("_lora_active", None)
    return net


def adapter_state_dict(net: nn.Module, adapter_name: str) -> dict[str, torch.Tensor]:
    """The adapter's tensors under PEFT's names, without the adapter segment: ``<module>.lora_A.<param>``
    and, for the saved modules, ``<module>.<key>`` of the trained copy."""
    state: dict[str, torch.Tensor] = {}
    for name, module in net.named_modules():
        if isinstance(module, LoraLayer) and adapter_name in module.lora_A:
            for factor in ("lora_A", "lora_B"):
                for param, tensor in getattr(module, factor)[adapter_name].items():
                    state[f"{name}.{factor}.{param}"] = tensor.detach()
        elif isinstance(module, ModulesToSave) and adapter_name in module.modules_to_save:
            for key, tensor in module.modules_to_save[adapter_name].state_dict().items():
                state[f"{name}.{key}"] = tensor.detach()
    return state


def base_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's state under its own keys, whatever adapters are attached."""
    state = {}
    for key, tensor in net.state_dict().items():
        if ".lora_A." in key or ".lora_B." in key or ".modules_to_save." in key:
            continue
        state[key.replace(".base_layer.", ".").replace(".original_module.", ".")] = tensor
    return state


def trainable_state_keys(net: nn.Module, prefix: str = "") -> list[str]:
    """State-dict keys (under ``prefix``) of everything an adapter trains: the factors and saved modules."""
    return [
        f"{prefix}{k}"
        for k in net.state_dict()
        if ".lora_A." in k or ".lora_B." in k or ".modules_to_save." in k
    ]
