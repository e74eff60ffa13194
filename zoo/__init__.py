"""zoo: a GPU-accelerated model zoo on PyTorch Lightning.

Public face (DESIGN.md section 3)::

    import zoo
    zoo.list_models()
    net = zoo.create_model("lstm", n_features=7, seq_len=96, pred_len=96)
    zoo.list_pretrained()
    net = zoo.create_model("tcn.etth1", pretrained=True)
"""

from zoo.registry import create_model, list_models, list_pretrained, register_model

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models", "list_pretrained", "register_model"]
