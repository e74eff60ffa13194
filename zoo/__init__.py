"""zoo: a GPU-accelerated model zoo on PyTorch Lightning.

Public face (DESIGN.md section 3)::

    import zoo
    zoo.list_models()
    net = zoo.create_model("lstm", n_features=7, seq_len=96, pred_len=96)
    zoo.list_pretrained()
    net = zoo.create_model("tcn.etth1", pretrained=True)
    frame = zoo.forecast("tcn.etth1", "my.csv")       # the future after the last row, a DataFrame
    result = zoo.backtest("tcn.etth1", "my.csv", windows=10, step=24)
    both = zoo.ensemble(["tcn.etth1", "nbeats.etth1"])  # the median of their forecasts, one model

``import zoo`` registers every model (:mod:`zoo.models`) and loads the hub (:mod:`zoo.hub`), neither of
which imports Lightning, pandas or torchmetrics; the data layer, the tasks and the CLI load on first use, and so do ``forecast`` and ``backtest``
(:mod:`zoo.inference`, PEP 562 ``__getattr__``).
"""

from typing import Any

from zoo import models as _models  # noqa: F401  (registers every model with zoo.registry)
from zoo.hub import create_model, list_pretrained
from zoo.registry import list_models, register_model
from zoo.version import __version__

__all__ = [
    "__version__",
    "backtest",
    "create_model",
    "ensemble",
    "forecast",
    "list_models",
    "list_pretrained",
    "register_model",
]
_INFERENCE = ("forecast", "backtest", "ensemble")


def __getattr__(name: str) -> Any:
    """``zoo.forecast``, ``zoo.backtest`` and ``zoo.ensemble`` import pandas and the data layer on first use only."""
    if name in _INFERENCE:
        import zoo.inference

        return getattr(zoo.inference, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
