"""GenerativeTask: the ELBO against a float64 hand computation, the IWAE bound, active units, schedules
through checkpoints, image grids in the loggers, and the non-finite guard."""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from zoo.models.gumbel import GumbelVAE
from zoo.models.vae import VAE
from zoo.tasks.generative import GenerativeTask
from zoo.tasks.latent_metrics import ActiveUnits, iwae_log_likelihood

SMALL = (1, 8, 8)


def _binary_images(n: int, shape: tuple[int, int, int] = SMALL, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *shape, generator=generator) > 0.6).float()


def _loader(x: torch.Tensor, batch_size: int = 16) -> DataLoader:
    return DataLoader([{"x": xi} for xi in x], batch_size=batch_size)


def _trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    defaults = dict(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    return pl.Trainer(**{**defaults, **kwargs})


def test_objective_equals_a_float64_hand_computation():
    torch.manual_seed(0)
    net = VAE(image_shape=(1, 2, 2), latent_dim=2, hidden_dims=(3,), activation="tanh").double()
    task = GenerativeTask(net, kl_schedule="linear", kl_beta=2.0, kl_warmup_steps=10)
    x = _binary_images(4, (1, 2, 2)).double()
    torch.manual_seed(7)
    terms = task.objective(x, step=5)
    # by hand: encoder tanh MLP -> (mu, log var); z = mu + sigma * eps; decoder logits; Bernoulli log-lik.
    (enc1,), enc_head = (
        [m for m in net.encoder.trunk.modules() if isinstance(m, torch.nn.Linear)],
        net.encoder.head,
    )
    dec1, dec2 = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Linear)]
    flat = x.reshape(4, 4)
    h = torch.tanh(flat @ enc1.weight.T + enc1.bias)
    stats = h @ enc_head.weight.T + enc_head.bias
    mu, logvar = stats[:, :2], stats[:, 2:]
    torch.manual_seed(7)
    eps = torch.randn(4, 2, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = torch.tanh(z @ dec1.weight.T + dec1.bias) @ dec2.weight.T + dec2.bias
    p = torch.sigmoid(logits)
    recon = -(flat * torch.log(p) + (1 - flat) * torch.log(1 - p)).sum(-1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
    weight = 2.0 * 5 / 10
    torch.testing.assert_close(terms.recon, recon, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(terms.kl_units, kl, rtol=1e-10, atol=1e-10)
    assert terms.kl_weight == pytest.approx(weight)
    torch.testing.assert_close(terms.loss, recon.mean() + weight * kl.sum(-1).mean(), rtol=1e-10, atol=1e-10)


def test_iwae_with_one_sample_is_the_single_sample_elbo():
    torch.manual_seed(0)
    net = VAE(image_shape=SMALL, latent_dim=3, hidden_dims=(16,)).double()
    x = _binary_images(6).double()
    torch.manual_seed(11)
    bound = iwae_log_likelihood(net, x, 1)
    torch.manual_seed(11)
    q = net.encode(x)
    z = q.sample((1,))
    elbo = net.decode(z[0]).log_prob(x) + net.prior().log_prob(z[0]).sum(-1) - q.log_prob(z[0]).sum(-1)
    torch.testing.assert_close(bound, elbo)


def test_iwae_chunks_combine_like_one_log_sum_exp():
    torch.manual_seed(0)
    net = GumbelVAE(image_shape=SMALL, num_variables=3, num_classes=4, hidden_dims=(16,)).double()
    x = _binary_images(5).double()
    torch.manual_seed(3)
    chunked = iwae_log_likelihood(net, x, 7, max_rows=5)  # one sample x 5 images per decoder call
    torch.manual_seed(3)
    q = net.encode(x)
    log_w = []
    for _ in range(7):
        z = q.sample((1,))
        log_w.append(net.decode(z).log_prob(x) + net.log_prior_ratio(z, q))
    expected = torch.logsumexp(torch.cat(log_w), 0) - math.log(7)
    torch.testing.assert_close(chunked, expected)


def test_iwae_bound_is_non_decreasing_in_k_and_k1_averages_to_the_elbo():
    torch.manual_seed(0)
    net = VAE(image_shape=SMALL, latent_dim=4, hidden_dims=(32,)).double()
    x = _binary_images(8).double()
    q = net.encode(x)
    repeats = 200
    torch.manual_seed(1)
    bounds = {
        k: torch.stack([iwae_log_likelihood(net, x, k).mean() for _ in range(repeats // (1 + k // 50))])
        for k in (1, 10, 100)
    }
    means = {k: v.mean().item() for k, v in bounds.items()}
    ses = {k: v.std().item() / math.sqrt(len(v)) for k, v in bounds.items()}
    assert means[1] <= means[10] + 3 * (ses[1] + ses[10])
    assert means[10] <= means[100] + 3 * (ses[10] + ses[100])
    assert means[100] - means[1] > 0.5  # an untrained posterior is loose: the gain is real, not noise
    # E[L_1] is the ELBO with the analytic KL, estimated by the mean reconstruction over many draws.
    torch.manual_seed(2)
    z = q.sample((4000,))
    elbo = (net.decode(z).log_prob(x).mean(0) - net.kl(q).sum(-1)).mean().item()
    assert means[1] == pytest.approx(elbo, abs=4 * ses[1] + 0.05)


def test_active_units_counts_units_whose_mean_varies():
    metric = ActiveUnits(threshold=0.01)
    generator = torch.Generator().manual_seed(0)
    means = torch.zeros(1000, 4, 1)
    means[:, 0, 0] = torch.randn(1000, generator=generator)  # variance 1: active
    means[:, 1, 0] = 0.05 * torch.randn(1000, generator=generator)  # variance 0.0025: inactive
    means[:, 2, 0] = 3.0  # constant: inactive
    means[:, 3, 0] = 0.2 * torch.randn(1000, generator=generator)  # variance 0.04: active
    for chunk in means.split(128):
        metric.update(chunk)
    torch.testing.assert_close(metric.variances(), means[..., 0].double().var(0, unbiased=False))
    assert metric.compute().item() == 2


def test_active_units_through_the_task_for_a_vae_with_dead_units(tmp_path):
    torch.manual_seed(0)
    net = VAE(image_shape=SMALL, latent_dim=5, hidden_dims=(16,))
    with torch.no_grad():  # latents 2..4 ignore x: their posterior mean is the bias for every image
        net.encoder.head.weight[2:5] = 0.0
        net.encoder.head.weight[:2] *= 20
    task = GenerativeTask(net, test_iwae_samples=0, num_images=0)
    result = _trainer(tmp_path).test(task, _loader(_binary_images(64)), verbose=False)[0]
    assert result["test/active_units"] == 2
    assert result["test/neg_elbo"] == pytest.approx(result["test/recon"] + result["test/kl"], rel=1e-5)


def test_temperature_and_kl_weight_survive_a_checkpoint_round_trip(tmp_path):
    def build() -> GenerativeTask:
        net = GumbelVAE(
            image_shape=SMALL,
            num_variables=2,
            num_classes=3,
            hidden_dims=(8,),
            anneal_rate=0.05,
            anneal_every=2,
        )
        return GenerativeTask(
            net, kl_schedule="linear", kl_warmup_steps=10, test_iwae_samples=0, num_images=0
        )

    pl.seed_everything(0)
    data = _loader(_binary_images(32), batch_size=8)  # 4 steps per epoch
    task = build()
    trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=True)
    trainer.fit(task, data)
    path = tmp_path / "steps4.ckpt"
    trainer.save_checkpoint(path)
    schedule = task.net.schedule
    assert task.net.temperature.item() == pytest.approx(schedule(3))  # set before the last step (step 3)

    resumed = build()
    state = torch.load(path, map_location="cpu", weights_only=True)
    resumed.load_state_dict(state["state_dict"])
    assert resumed.net.temperature.item() == pytest.approx(schedule(3))
    assert state["global_step"] == 4
    trainer2 = _trainer(tmp_path, max_epochs=2, callbacks=[_RecordSchedules()])
    trainer2.fit(resumed, data, ckpt_path=path)
    seen = trainer2.callbacks[0].seen
    assert [s for s, _, _ in seen] == [4, 5, 6, 7]
    for step, tau, weight in seen:
        assert tau == pytest.approx(schedule(step))
        assert weight == pytest.approx(min(1.0, step / 10))


class _RecordSchedules(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, float, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step - 1
        self.seen.append((step, pl_module.net.temperature.item(), pl_module.kl_weighting.weight(step)))


def test_image_grids_are_written_beside_the_csv_logs(tmp_path):
    torch.manual_seed(0)
    task = GenerativeTask(
        VAE(image_shape=SMALL, latent_dim=2, hidden_dims=(8,)), test_iwae_samples=5, num_images=16
    )
    logger = CSVLogger(tmp_path, name="grids")
    trainer = _trainer(tmp_path, logger=logger, max_epochs=1, num_sanity_val_steps=0, log_every_n_steps=1)
    data = _loader(_binary_images(48))
    trainer.fit(task, data, data)
    trainer.test(task, data, verbose=False)
    images = sorted(p.name for p in (Path(logger.log_dir) / "images").iterdir())
    assert images == [
        "test_reconstructions_step0000003.png",
        "test_samples_step0000003.png",
        "val_reconstructions_step0000003.png",
        "val_samples_step0000003.png",
    ]
    from PIL import Image

    with Image.open(Path(logger.log_dir) / "images" / "val_reconstructions_step0000003.png") as png:
        # 16 inputs + 16 reconstructions: 4 rows of 8 images of 8x8 with 2-pixel padding
        assert png.size == (8 * 10 + 2, 4 * 10 + 2)
    metrics = (Path(logger.log_dir) / "metrics.csv").read_text()
    for key in ("train/loss", "train/kl_weight", "val/neg_elbo", "val/active_units", "test/nll_iwae"):
        assert key in metrics


def test_image_grids_go_to_wandb_offline(tmp_path, wandb_offline):
    from lightning.pytorch.loggers import WandbLogger

    torch.manual_seed(0)
    net = GumbelVAE(image_shape=SMALL, num_variables=2, num_classes=3, hidden_dims=(8,))
    task = GenerativeTask(net, test_iwae_samples=0, num_images=8)
    logger = WandbLogger(project="zoo-tests", save_dir=str(tmp_path), offline=True)
    trainer = _trainer(tmp_path, logger=logger, max_epochs=1, num_sanity_val_steps=0)
    data = _loader(_binary_images(32))
    trainer.fit(task, data, data)
    run_dir = Path(logger.experiment.dir).parent
    wandb_offline.finish()
    media = sorted(p.name for p in (run_dir / "files" / "media" / "images").rglob("*.png"))
    assert any(name.startswith("val/reconstructions") or "reconstructions" in name for name in media), media
    assert any("samples" in name for name in media), media


def test_non_finite_loss_stops_training_with_a_clear_message(tmp_path):
    net = VAE(image_shape=SMALL, latent_dim=2, hidden_dims=(8,))
    with torch.no_grad():
        net.decoder.net[-1].bias.fill_(float("nan"))
    task = GenerativeTask(net, num_images=0)
    with pytest.raises(
        FloatingPointError, match=r"non-finite training loss nan at global step 0.*reconstruction"
    ):
        _trainer(tmp_path, max_steps=1).fit(task, _loader(_binary_images(16)))


def test_task_rejects_a_forecaster_and_bad_arguments():
    import zoo

    with pytest.raises(TypeError, match="not a zoo.models.latent.LatentVariableModel"):
        GenerativeTask(zoo.create_model("naive", n_features=1, seq_len=4, pred_len=2))
    net = VAE(image_shape=SMALL, latent_dim=2, hidden_dims=(8,))
    with pytest.raises(ValueError, match="lr_schedule"):
        GenerativeTask(net, optimizer={"lr_schedule": "exp"})
    with pytest.raises(ValueError, match="kl_warmup_steps"):
        GenerativeTask(net, kl_schedule="linear")
    with pytest.raises(ValueError, match="iwae samples"):
        GenerativeTask(net, test_iwae_samples=-1)


@pytest.mark.parametrize("hard", [False, True])
def test_relaxed_bound_is_reported_only_for_relaxed_latents(tmp_path, hard):
    torch.manual_seed(0)
    net = GumbelVAE(image_shape=SMALL, num_variables=3, num_classes=4, hidden_dims=(8,), hard=hard)
    task = GenerativeTask(net, test_iwae_samples=0, num_images=0)
    result = _trainer(tmp_path).test(task, _loader(_binary_images(32)), verbose=False)[0]
    assert ("test/neg_elbo_relaxed" in result) is not hard
    if not hard:
        # same KL, different reconstruction term: the two figures differ
        assert result["test/neg_elbo_relaxed"] != pytest.approx(result["test/neg_elbo"], abs=1e-6)
