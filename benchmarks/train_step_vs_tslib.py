"""Training throughput on CPU at TSLib's ETTh1 hyperparameters: Time-Series-Library's unchanged Informer and
Transformer (fp32) beside zoo's, in fp32, bf16 autocast and bf16 autocast with ``torch.compile``.

TSLib's scripts: d_model 512, 8 heads, 2 encoder + 1 decoder layers, d_ff 2048, dropout 0.1, GELU, timeF
marks, factor 3, distilling (Informer), batch 32, Adam lr 1e-4, MSE, 96 -> 96 with a 48-step start token.
zoo's nets get the same hyperparameters. Every variant starts from its own seeded initialisation and trains
on the same sequence of ETTh1 training batches (zoo's windows, which equal TSLib's; TSLib's decoder input
is built as its ``exp_long_term_forecasting`` does). The variants run interleaved: each round trains every
variant for ``--steps`` steps in turn and times them; the first round, which holds the compilation, is
left out of the throughput. The final training loss is the mean over the last round's steps of each.
TSLib's modules import ``reformer_pytorch`` for an attention these models do not use; a stub module stands in
for it (no TSLib file is changed)::

    python benchmarks/train_step_vs_tslib.py --tslib ../peers/Time-Series-Library --rounds 6 --steps 5 \\
        --out benchmarks/results/train_step_vs_tslib

``--device cuda`` runs the same on a GPU (bf16 autocast there, a synchronised clock); without ``--tslib``
only zoo's variants run, with speed-ups over zoo fp32 (``benchmarks/gpu_suite.sh`` does that, the peer's
code not being on a lent machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zoo
from benchmarks.environment import others_running, ratio_cell, run_metadata, write_results
from zoo.data import TimeSeriesDataModule

SEQ_LEN, LABEL_LEN, PRED_LEN, BATCH = 96, 48, 96, 32
HYPER = {"d_model": 512, "n_heads": 8, "e_layers": 2, "d_layers": 1, "d_ff": 2048, "dropout": 0.1}
ALL_VARIANTS = ("tslib_fp32", "zoo_fp32", "zoo_bf16", "zoo_bf16_compile")


def tslib_model(tslib: Path, name: str, channels: int) -> torch.nn.Module:
    """TSLib's ``models/<Informer|Transformer>.py`` ``Model`` with its ETTh1 script's arguments."""
    if str(tslib) not in sys.path:
        sys.path.insert(0, str(tslib))
    sys.modules.setdefault("reformer_pytorch", types.SimpleNamespace(LSHSelfAttention=None))
    module = __import__(f"models.{'Informer' if name == 'informer' else 'Transformer'}", fromlist=["Model"])
    configs = types.SimpleNamespace(
        task_name="long_term_forecast",
        seq_len=SEQ_LEN,
        label_len=LABEL_LEN,
        pred_len=PRED_LEN,
        enc_in=channels,
        dec_in=channels,
        c_out=channels,
        embed="timeF",
        freq="h",
        factor=3,
        activation="gelu",
        distil=True,
        num_class=0,
        **HYPER,
    )
    return module.Model(configs)


def zoo_model(name: str, channels: int, marks: int) -> torch.nn.Module:
    extra = {"attention": "prob", "factor": 3, "distil": True} if name == "informer" else {}
    return zoo.create_model(
        name,
        n_features=channels,
        seq_len=SEQ_LEN,
        label_len=LABEL_LEN,
        pred_len=PRED_LEN,
        n_time_features=marks,
        activation="gelu",
        **HYPER,
        **extra,
    )


def training_batches(
    count: int, device: str = "cpu", dataset: str = "ETTh1"
) -> list[dict[str, torch.Tensor]]:
    """The first ``count`` batches of a seeded shuffle of ``dataset``'s training windows, on ``device``."""
    dm = TimeSeriesDataModule(
        dataset, seq_len=SEQ_LEN, label_len=LABEL_LEN, pred_len=PRED_LEN, batch_size=BATCH
    )
    dm.setup("fit")
    torch.manual_seed(0)
    batches = []
    for batch in dm.train_dataloader():
        batches.append({k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)})
        if len(batches) == count:
            return batches
    raise ValueError(f"{dataset} has fewer than {count} training batches of {BATCH}")


def make_step(
    variant: str, model: torch.nn.Module, device: str = "cpu"
) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """One optimisation step of ``model`` on a batch, as the variant runs it; returns the loss (detached)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    low = variant.startswith("zoo_bf16")
    forward = torch.compile(model) if variant.endswith("compile") else model

    def step(batch: dict[str, torch.Tensor]) -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=low):
            if variant == "tslib_fp32":  # exp_long_term_forecasting: the start token, then zeros
                x_dec = torch.cat([batch["x"][:, -LABEL_LEN:], torch.zeros_like(batch["y"])], dim=1)
                mark_dec = torch.cat([batch["x_mark"][:, -LABEL_LEN:], batch["y_mark"]], dim=1)
                pred = forward(batch["x"], batch["x_mark"], x_dec, mark_dec)[:, -PRED_LEN:]
            else:
                pred = forward(batch["x"], batch["x_mark"], batch["y_mark"])
        loss = F.mse_loss(pred.float(), batch["y"])
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def run(tslib: Path | None, name: str, rounds: int, steps: int, device: str, dataset: str) -> dict[str, Any]:
    variants = [v for v in ALL_VARIANTS if tslib is not None or not v.startswith("tslib")]
    base = variants[0]
    batches = training_batches(rounds * steps, device, dataset)
    channels, marks = batches[0]["x"].shape[-1], batches[0]["x_mark"].shape[-1]
    steppers = {}
    for variant in variants:
        torch.manual_seed(2021)
        if variant == "tslib_fp32":
            model = tslib_model(tslib, name, channels)
        else:
            model = zoo_model(name, channels, marks)
        steppers[variant] = make_step(variant, model.to(device).train(), device)
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    losses: dict[str, list[float]] = {v: [] for v in variants}
    busy = []
    for r in range(rounds):
        chunk = batches[r * steps : (r + 1) * steps]
        busy.append(others_running(1) if device == "cpu" else None)
        for variant in variants:
            _sync(device)
            start = time.perf_counter()
            step_losses = [steppers[variant](batch) for batch in chunk]
            _sync(device)
            seconds[variant].append(time.perf_counter() - start)
            losses[variant].extend(float(loss) for loss in step_losses)
        print(name, r, {v: round(seconds[v][-1], 2) for v in variants}, flush=True)
    timed = {v: seconds[v][1:] for v in variants}
    return {
        "model": name,
        "baseline": base,
        "samples_per_s": {v: [steps * BATCH / s for s in timed[v]] for v in variants},
        "speedup": {v: [t / s for t, s in zip(timed[base], timed[v], strict=True)] for v in variants},
        "final_loss": {v: statistics.mean(losses[v][-steps:]) for v in variants},
        "losses": losses,
        "others_running": busy,
    }


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    peer = f", TSLib {meta['tslib_commit']}" if meta["tslib_commit"] else " (zoo only)"
    lines = [
        f"# Training throughput at TSLib's ETTh1 hyperparameters ({meta['device_kind']})",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, {meta['threads']}, "
        f"git {meta['git']}{peer}, data {meta['dataset']}; {meta['rounds']} rounds of {meta['steps']} steps per variant, "
        "interleaved, the first round (compilation) left out.",
        f"Command: `{meta['command']}`",
        "",
        "samples/s: median over rounds; speed-up: the baseline's time / the variant's, per round, median "
        "(min-max); final loss: mean training MSE over the last round's steps (same batches for every variant).",
        "",
        "| model | variant | samples/s | speed-up vs baseline | final train loss |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for variant, ratios in result["speedup"].items():
            lines.append(
                f"| {result['model']} | {variant} | {statistics.median(result['samples_per_s'][variant]):.1f} | "
                f"{ratio_cell(ratios)} vs {result['baseline']} | "
                f"{result['final_loss'][variant]:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tslib", type=Path, default=None, help="a checkout of thuml/Time-Series-Library")
    parser.add_argument("--models", nargs="+", default=["transformer", "informer"])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dataset", default="ETTh1", help="ETTh1, or 'synthetic' where the data is absent")
    parser.add_argument("--out", required=True, help="output stem: writes <out>.md and <out>.json")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    tslib = args.tslib.resolve() if args.tslib is not None else None
    commit = ""
    if tslib is not None:
        commit = (tslib / "COMMIT").read_text().strip() if (tslib / "COMMIT").is_file() else "unknown"
    meta = {
        **run_metadata(args.device),
        "device_kind": "CPU" if args.device == "cpu" else "GPU",
        "threads": "1 thread" if args.device == "cpu" else "CUDA",
        "tslib_commit": commit,
        "rounds": args.rounds,
        "steps": args.steps,
        "dataset": args.dataset,
    }
    results = [run(tslib, name, args.rounds, args.steps, args.device, args.dataset) for name in args.models]
    write_results(args.out, meta, results, render(results, meta))


if __name__ == "__main__":
    main()
