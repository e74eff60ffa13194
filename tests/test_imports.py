"""The package imports without the optional heavy dependencies (the lent GPU machines have no wandb)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

BLOCK = (
    "import sys\nfor name in ('wandb', 'triton'):\n    sys.modules[name] = None  # makes `import name` fail\n"
)


def test_zoo_and_kernels_import_without_wandb_and_triton() -> None:
    code = BLOCK + (
        "import zoo, zoo.cli, zoo.tasks, zoo.data, kernels\n"
        "assert not kernels.triton_available()\n"
        "try:\n    kernels.require_triton('causal_conv1d')\nexcept ImportError as err:\n"
        "    assert \"backend='torch'\" in str(err)\nelse:\n    raise SystemExit('no error')\n"
        "print(zoo.list_models())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "lstm" in result.stdout


def test_version_and_public_names() -> None:
    import zoo

    assert zoo.__version__ == "0.1.0"
    assert callable(zoo.create_model) and callable(zoo.list_models)
