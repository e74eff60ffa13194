"""zoo: a GPU-accelerated model zoo on PyTorch Lightning.

Public face (DESIGN.md section 3)::

    import zoo
    zoo.list_models()
    net = zoo.create_model("lstm", n_features=7, seq_len=96, pred_len=96)
    zoo.list_pretrained()
    net = zoo.create_model("tcn.etth1", pretrained=True)

``import zoo`` registers every model (:mod:`zoo.models`) and loads the hub (:mod:`zoo.hub`), neither of
which imports Lightning, pandas or torchmetrics; the data layer, the tasks and the CLI load on first use.
"""

from zoo import models as _models  # noqa: F401  (registers every model with zoo.registry)
from zoo.hub import create_model, list_pretrained
from zoo.registry import list_models, register_model
from zoo.version import __version__

__all__ = ["__version__", "create_model", "list_models", "list_pretrained", "register_model"]
