"""Run what ``train.py export`` wrote (:mod:`zoo.deploy.programs`): every file checked against its sha256.

:func:`load_program` returns an :class:`ExportedForecaster` for a forecaster (the interface of a zoo net:
``net(x, x_mark, y_mark) -> (B, P, C_out)`` and its data dimensions, so ``zoo.forecast`` and
``zoo.backtest`` take an export directory as they take a pretrained one) or an :class:`ExportedProgram`
for a decoder. ``torch_export`` programs are rebuilt with ``torch._export.serde.serialize.deserialize``
from their JSON graph and safetensors tensors: nothing is unpickled. ``onnx`` programs run in ONNX
Runtime on the CPU, with torch's intra-op thread count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.deploy.programs import (
    FORMAT_FILES,
    GRAPH_NAME,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    ONNX_NAME,
    TENSORS_NAME,
)
from zoo.hub import IntegrityError, PretrainedConfig, PretrainedNotFoundError
from zoo.hub.digest import check_file_sha256


def is_program_dir(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by ``train.py export``."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_manifest(directory: Path) -> dict[str, Any]:
    """``export.json`` of ``directory``, its fields checked; errors name the file and the field."""
    where = directory / MANIFEST_NAME
    if not where.is_file():
        raise PretrainedNotFoundError(
            f"{where} not found: {directory} is not a directory written by train.py export"
        )
    try:
        manifest = json.loads(where.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IntegrityError(f"{where} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{where}: expected a JSON object, got {type(manifest).__name__}")
    missing = sorted({"manifest_version", "format", "inputs", "output", "sha256", "config"} - set(manifest))
    if missing:
        raise IntegrityError(f"{where}: missing field(s) {missing}")
    if manifest["manifest_version"] != MANIFEST_VERSION:
        raise IntegrityError(
            f"{where}: manifest_version {manifest['manifest_version']!r}, this zoo reads {MANIFEST_VERSION}; "
            "export the model again with this version"
        )
    expected = FORMAT_FILES.get(manifest["format"])
    if expected is None:
        raise IntegrityError(f"{where}: format must be 'torch_export' or 'onnx', got {manifest['format']!r}")
    inputs = manifest["inputs"]
    if not (
        isinstance(inputs, dict)
        and inputs
        and all(
            isinstance(shape, list) and all(isinstance(n, int) for n in shape) for shape in inputs.values()
        )
    ):
        raise IntegrityError(f"{where}: inputs must map each input's name to its shape without the batch")
    if not isinstance(manifest["sha256"], dict) or set(manifest["sha256"]) != expected:
        raise IntegrityError(f"{where}: sha256 must record exactly the files {sorted(expected)}")
    return manifest


class ExportedProgram(nn.Module):
    """An exported program: ``program(*inputs) -> output``, its inputs in the order ``export.json`` lists.

    Args:
        directory: the export directory.
        manifest: its checked ``export.json``.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        super().__init__()
        self.directory, self.format = directory, manifest["format"]
        self.input_shapes: dict[str, list[int]] = dict(manifest["inputs"])
        self.config = PretrainedConfig.from_dict(manifest["config"], directory / MANIFEST_NAME)
        where = directory / MANIFEST_NAME
        data = {
            name: check_file_sha256(directory / name, digest, where)
            for name, digest in manifest["sha256"].items()
        }
        self._session: Any = None
        graph = None
        if self.format == "onnx":
            self._session = _onnx_session(data[ONNX_NAME])
        else:
            graph = _rebuild_program(data[GRAPH_NAME], data[TENSORS_NAME], directory)
        # not a submodule: an exported graph refuses train()/eval(), which zoo.forecast calls on the runner
        object.__setattr__(self, "_graph", graph)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        names = list(self.input_shapes)
        if len(inputs) != len(names):
            raise ValueError(
                f"{self.directory}: the program takes {len(names)} input(s) {names}, got {len(inputs)}"
            )
        for name, value in zip(names, inputs, strict=True):
            expected = self.input_shapes[name]
            if value.ndim != len(expected) + 1 or list(value.shape[1:]) != expected:
                raise ValueError(
                    f"{self.directory}: input {name} must be (B, {', '.join(map(str, expected))}), "
                    f"got {tuple(value.shape)}"
                )
        if self._session is not None:
            feed = {
                name: value.detach().cpu().float().numpy() for name, value in zip(names, inputs, strict=True)
            }
            return torch.from_numpy(self._session.run(None, feed)[0])
        assert self._graph is not None
        return self._graph(*(value.float() for value in inputs))


class ExportedForecaster(ExportedProgram):
    """An exported forecaster with a zoo net's interface: ``net(x, x_mark, y_mark) -> (B, P, C_out)``.

    Attributes ``n_features``, ``n_targets``, ``seq_len``, ``pred_len`` and ``n_time_features`` are the model's.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        super().__init__(directory, manifest)
        args = self.config.model_args
        self.n_features, self.seq_len, self.pred_len = (
            int(args["n_features"]),
            int(args["seq_len"]),
            int(args["pred_len"]),
        )
        self.n_targets = int(args.get("n_targets") or self.n_features)
        self.n_time_features = int(args.get("n_time_features") or 0)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        given = {"x": x, "x_mark": x_mark, "y_mark": y_mark}
        needed = list(self.input_shapes)
        absent = [name for name in needed if given[name] is None]
        if absent:
            raise ValueError(
                f"{self.directory}: the program needs {absent} (it was exported with time features)"
            )
        return super().forward(*(given[name] for name in needed))


def load_program(directory: str | Path) -> ExportedProgram:
    """The program ``train.py export`` wrote to ``directory``: an :class:`ExportedForecaster` for a forecaster.

    Args:
        directory: the export directory (``export.json`` and its program files).
    """
    path = Path(directory)
    manifest = read_manifest(path)
    task = manifest["config"].get("task")
    return ExportedForecaster(path, manifest) if task == "forecasting" else ExportedProgram(path, manifest)


def _rebuild_program(graph: bytes, tensors: bytes, directory: Path) -> nn.Module:
    """The ``torch.export`` program of ``program.json`` and ``program.safetensors``, as a callable module."""
    from safetensors.torch import load
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    try:
        stored = load(tensors)
    except Exception as error:  # safetensors raises its own error type for a malformed header
        raise IntegrityError(f"{directory / TENSORS_NAME}: not a safetensors file ({error})") from None
    state = {k.removeprefix("state/"): v for k, v in stored.items() if k.startswith("state/")}
    constants = {k.removeprefix("constant/"): v for k, v in stored.items() if k.startswith("constant/")}
    artifact = SerializedArtifact(graph, state, constants, ())
    try:
        program = deserialize(_with_parameters(artifact, graph))
    except Exception as error:
        raise IntegrityError(
            f"{directory / GRAPH_NAME}: the program could not be rebuilt ({type(error).__name__}: {error}); "
            f"it was written by another torch version than {torch.__version__}? export the model again"
        ) from None
    return program.module()


def _with_parameters(artifact: Any, graph: bytes) -> Any:
    """The artifact with the program's parameters as ``nn.Parameter`` (the deserializer checks the kind)."""
    signature = json.loads(graph).get("graph_module", {}).get("signature", {})
    names = {
        spec["parameter"]["parameter_name"]
        for spec in signature.get("input_specs", [])
        if isinstance(spec, dict) and "parameter" in spec
    }
    state = {
        k: nn.Parameter(v, requires_grad=False) if k in names else v for k, v in artifact.state_dict.items()
    }
    return type(artifact)(artifact.exported_program, state, artifact.constants, artifact.example_inputs)


def _onnx_session(model: bytes) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "running an ONNX export needs onnxruntime: pip install onnx onnxscript onnxruntime (the onnx extra: pip install -e '.[onnx]' in zoo's checkout)"
        ) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
