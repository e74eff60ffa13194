"""The shipped weights in checkpoints/: complete, intact, light, and reproducing their cards' test metrics."""

from __future__ import annotations

import pytest

import zoo
from zoo import hub
from zoo.conversion import evaluate_pretrained

SHIPPED = [
    "dlinear.etth1",
    "gru.etth1",
    "gumbel_vae.binarized_mnist",
    "informer.etth1",
    "itransformer.etth1",
    "lstm.etth1",
    "nbeats.etth1",
    "nbeats.m4_hourly",
    "patchtst.etth1",
    "rlinear.etth1",
    "rlinear.etth1_student_t",
    "tcn.etth1",
    "transformer.etth1",
    "vae.mnist",
]
FORECASTERS = [name for name in SHIPPED if "vae" not in name]


@pytest.fixture(autouse=True)
def _shipped_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_PRETRAINED_DIR", raising=False)


def test_every_promised_model_is_shipped_and_the_total_stays_under_60_mb() -> None:
    assert zoo.list_pretrained() == SHIPPED
    total = sum((hub.shipped_dir() / name / hub.WEIGHTS_NAME).stat().st_size for name in SHIPPED)
    assert total < 60e6, f"shipped weights total {total / 1e6:.1f} MB"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_manifest_and_loads(name: str) -> None:
    record = hub.load_manifest()[name]
    assert set(record["files"]) == {hub.CONFIG_NAME, hub.WEIGHTS_NAME, hub.CARD_NAME}
    hub.verify(hub.shipped_dir() / name, record)
    model = zoo.create_model(name, pretrained=True)
    config = model.pretrained_config
    assert (
        config.name == name
        and config.data_license
        and config.training_command.startswith("python train.py fit")
    )
    assert sum(p.numel() for p in model.parameters()) == config.num_parameters
    card = (hub.shipped_dir() / name / hub.CARD_NAME).read_text()
    headline = "test/mse" if "test/mse" in config.metrics else "test/neg_elbo"
    assert f"{config.metrics[headline]:.4f}" in card and config.training_command in card


@pytest.mark.slow
@pytest.mark.parametrize("name", FORECASTERS)
def test_shipped_forecaster_reproduces_its_card(name: str, data_dir: object) -> None:
    card = hub.PretrainedConfig.from_file(hub.shipped_dir() / name / hub.CONFIG_NAME).metrics
    measured = evaluate_pretrained(name, seed=0)
    keys = ["test/mse", "test/mae", "test/windows"] + (
        ["test/smape", "test/owa"] if "test/smape" in card else []
    )
    keys += [key for key in ("test/coverage", "test/crps", "test/width") if key in card]
    for key in keys:
        assert measured[key] == pytest.approx(card[key], abs=1e-4), key


@pytest.mark.slow
def test_shipped_vae_reproduces_its_negative_elbo_with_a_fixed_seed(data_dir: object) -> None:
    card = hub.PretrainedConfig.from_file(hub.shipped_dir() / "vae.mnist" / hub.CONFIG_NAME).metrics
    measured = evaluate_pretrained("vae.mnist", seed=0)
    for key in ("test/neg_elbo", "test/recon", "test/kl"):
        assert measured[key] == pytest.approx(card[key], abs=1e-4), key
