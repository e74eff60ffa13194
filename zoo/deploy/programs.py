"""``train.py export MODEL OUT --format torch_export|onnx``: a trained model as a self-contained program.

A forecaster is exported as its eval-mode ``forward``: inputs ``x`` (B, L, C_in) and, when it has time
features, ``x_mark`` (B, L, F) and ``y_mark`` (B, P, F), all scaled as in training; output the scaled
forecast (B, P, C_out). A latent-variable model is exported as its decoder: input z, drawn from the
prior's shape, output the image mean (B, C, H, W). The batch dimension is dynamic.

The directory written (atomically; an existing one is replaced only with ``overwrite``):

- ``export.json``: the format, the program's inputs and output, the sha256 of every other file, the
  versions that wrote it, and the model's ``config.json`` record (architecture, columns, frequency,
  scaler statistics), so ``zoo.forecast`` can apply the program to a file as it does the model;
- ``torch_export``: ``program.json`` (the ``torch.export`` graph, serialised as JSON by
  ``torch._export.serde``) and ``program.safetensors`` (its parameters, buffers and tensor constants).
  ``torch.export.save`` is not used: its archive unpickles sample inputs and tensor subclasses on load,
  and zoo never unpickles a file from elsewhere;
- ``onnx``: ``model.onnx`` (``torch.onnx.export(dynamo=True)``), run with ONNX Runtime.

Before tracing, one eager forward pass runs on the example inputs, so state drawn once and kept by the
model (Informer's eval-mode ProbSparse key sample) is a constant of the program.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from zoo.choices import check_choice
from zoo.hub.digest import bytes_sha256
from zoo.hub.files import write_directory
from zoo.version import __version__

ProgramFormat = Literal["torch_export", "onnx"]

MANIFEST_NAME = "export.json"
GRAPH_NAME = "program.json"
TENSORS_NAME = "program.safetensors"
ONNX_NAME = "model.onnx"
#: the program files of each format, beside export.json
FORMAT_FILES: dict[str, frozenset[str]] = {
    "torch_export": frozenset({GRAPH_NAME, TENSORS_NAME}),
    "onnx": frozenset({ONNX_NAME}),
}
PROGRAM_FILES = frozenset({MANIFEST_NAME}).union(*FORMAT_FILES.values())
MANIFEST_VERSION = 1
EXAMPLE_BATCH = 2
MAX_BATCH = 1 << 20


class DecoderMean(nn.Module):
    """A latent model's decoder as a program: z -> the mean image E[x | z] (B, C, H, W).

    Args:
        model: a ``zoo.models.latent.LatentVariableModel``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z).mean


def program_inputs(net: nn.Module, task: str) -> tuple[nn.Module, dict[str, torch.Tensor], str]:
    """The module to export, its named example inputs (batch ``EXAMPLE_BATCH``) and the output's name.

    Args:
        net: a registered forecaster or latent-variable model, in eval mode.
        task: its task kind ("forecasting" or "generative").
    """
    generator = torch.Generator().manual_seed(0)
    if task == "generative":
        z = net.prior().sample((EXAMPLE_BATCH,)).to(torch.get_default_dtype())
        return DecoderMean(net), {"z": z}, "image_mean"
    shape = (EXAMPLE_BATCH, net.seq_len)
    inputs = {"x": torch.randn(*shape, net.n_features, generator=generator)}
    if net.n_time_features:
        inputs["x_mark"] = torch.randn(*shape, net.n_time_features, generator=generator)
        inputs["y_mark"] = torch.randn(EXAMPLE_BATCH, net.pred_len, net.n_time_features, generator=generator)
    return net, inputs, "forecast"


def export_program(
    net: nn.Module,
    directory: str | Path,
    format: ProgramFormat = "torch_export",
    overwrite: bool = False,
    config: Any = None,
) -> Path:
    """Export ``net`` (module docstring) to ``directory``; returns the directory.

    Args:
        net: a registered net (a forecaster, or a latent model whose decoder is exported), or a task holding one.
        directory: the directory to write.
        format: "torch_export" or "onnx".
        overwrite: replace an existing export directory there.
        config: the ``zoo.hub.PretrainedConfig`` recorded in ``export.json`` (columns, scaler: what
            ``zoo.forecast`` needs); None: the net's ``pretrained_config``, else its architecture and
            arguments only.
    """
    check_choice("format", format, ProgramFormat)
    from zoo.hub import PretrainedConfig, check_directory_target
    from zoo.hub.loading import architecture_of, net_of
    from zoo.registry import get_model_entry

    net = net_of(net)
    if config is None:
        config = getattr(net, "pretrained_config", None)
    if config is None:
        architecture = architecture_of(net)
        task = get_model_entry(architecture).task
        config = PretrainedConfig(architecture=architecture, model_args=dict(net.constructor_args), task=task)

    target = Path(directory)
    check_directory_target(target, PROGRAM_FILES, overwrite)  # before the tracing, so a refusal costs nothing
    net = copy.deepcopy(net).cpu().eval()  # the caller's module keeps its device and mode
    with torch.random.fork_rng(devices=[]):  # a prior draw for the example z leaves the caller's RNG alone
        module, inputs, output = program_inputs(net, config.task)
    args = tuple(inputs.values())
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    dynamic = tuple({0: batch} for _ in args)
    with torch.no_grad():
        module(*args)  # state the model keeps after one call (Informer's eval key sample) becomes a constant
    files: dict[str, str | bytes] = {}
    if format == "torch_export":
        files.update(_torch_export_files(module, args, dynamic))
    else:
        files[ONNX_NAME] = _onnx_bytes(module, args, dynamic, list(inputs), output)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "format": format,
        "inputs": {name: list(t.shape[1:]) for name, t in inputs.items()},
        "output": output,
        "sha256": {
            name: bytes_sha256(data if isinstance(data, bytes) else data.encode())
            for name, data in files.items()
        },
        "torch_version": torch.__version__,
        "zoo_version": __version__,
        "config": json.loads(config.to_json()),
    }
    files[MANIFEST_NAME] = json.dumps(manifest, indent=2) + "\n"
    return write_directory(target, files, overwrite=overwrite, replaceable=PROGRAM_FILES)


def _torch_export_files(
    module: nn.Module, args: tuple[torch.Tensor, ...], dynamic: tuple[Any, ...]
) -> dict[str, bytes]:
    """``program.json`` and ``program.safetensors`` of ``torch.export.export(module, args)``."""
    from safetensors.torch import save
    from torch._export.serde.serialize import serialize

    with torch.no_grad():
        program = torch.export.export(module, args, dynamic_shapes=dynamic)
    not_tensors = sorted(k for k, v in program.constants.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise TypeError(
            f"the exported program holds constants that are not tensors {not_tensors}; they could not be "
            "stored without pickling: export with --format onnx"
        )
    artifact = serialize(
        program, serialize_state_dict=False, serialize_constants=False, serialize_example_inputs=False
    )
    tensors = {f"state/{k}": v for k, v in program.state_dict.items()}
    tensors.update({f"constant/{k}": v for k, v in program.constants.items()})
    stored = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    return {GRAPH_NAME: artifact.exported_program, TENSORS_NAME: save(stored)}


def _onnx_bytes(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    dynamic: tuple[Any, ...],
    input_names: list[str],
    output: str,
) -> bytes:
    """The ONNX model of ``module`` (``torch.onnx.export(dynamo=True)``), serialised."""
    try:
        import onnx  # noqa: F401 (torch.onnx's exporter needs it; say so before tracing)
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"--format onnx needs the onnx and onnxscript packages ({error.name} is missing): "
            "pip install onnx onnxscript onnxruntime (the onnx extra: pip install -e '.[onnx]' in zoo's checkout)"
        ) from None
    program = torch.onnx.export(
        module,
        args,
        dynamo=True,
        dynamic_shapes=dynamic,
        input_names=input_names,
        output_names=[output],
        verbose=False,
    )
    return program.model_proto.SerializeToString()
