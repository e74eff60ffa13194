"""The latent-variable models: every registered generative model through the contract, plus VAE/Gumbel specifics."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, OneHotCategorical

import zoo
from zoo.models.gumbel import GumbelVAE
from zoo.models.latent import LatentOutput, LatentVariableModel
from zoo.models.vae import VAE
from zoo.registry import list_models

GENERATIVE = list_models(task="generative")


def _images(batch: int = 5, shape: tuple[int, int, int] = (1, 28, 28), seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, *shape, generator=generator) > 0.7).float()


def test_the_registry_has_the_generative_family():
    assert {"vae", "vae_conv", "gumbel_vae", "gumbel_vae_st", "concrete_vae"} <= set(GENERATIVE)


@pytest.mark.parametrize("name", GENERATIVE)
def test_contract_shapes_gradients_and_state_dict_round_trip(name):
    torch.manual_seed(0)
    net = zoo.create_model(name)
    assert isinstance(net, LatentVariableModel)
    x = _images()
    out = net(x)
    assert isinstance(out, LatentOutput)
    q = out.posterior
    assert q.batch_shape[0] == 5
    log_px = out.likelihood.log_prob(x)
    assert log_px.shape == (5,) and torch.isfinite(log_px).all()
    kl = net.kl(q)
    assert kl.ndim == 2 and kl.shape[0] == 5 and (kl >= -1e-5).all()
    means = net.unit_means(q)
    assert means.shape[:2] == kl.shape
    (-log_px + kl.sum(-1)).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no finite gradient for {missing}"
    samples = net.generate(3)
    assert samples.shape == (3, 1, 28, 28)
    clone = zoo.create_model(name)
    clone.load_state_dict(net.state_dict())
    torch.manual_seed(1)
    a = net.decode(net.encode(x).mode).mean
    b = clone.decode(clone.encode(x).mode).mean
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", GENERATIVE)
def test_wrong_image_shape_is_a_clear_error(name):
    net = zoo.create_model(name)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\), got \(2, 1, 14, 14\)"):
        net(torch.zeros(2, 1, 14, 14))


def test_vae_defaults_are_burdas_one_layer_model():
    net = zoo.create_model("vae")
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 200),
        (200, 200),
        (200, 100),
        (50, 200),
        (200, 200),
        (200, 784),
    ]
    assert isinstance(net.encoder.trunk[1][1], torch.nn.Tanh)


def test_vae_reparameterisation_and_kl_match_the_gaussian_formulas():
    torch.manual_seed(2)
    net = VAE(latent_dim=4, hidden_dims=(16,))
    x = _images(3)
    q = net.encode(x)
    assert isinstance(q, Normal) and q.batch_shape == (3, 4)
    mean, logvar = net.encoder(x).chunk(2, -1)
    kl_formula = 0.5 * (mean**2 + logvar.exp() - 1 - logvar)
    torch.testing.assert_close(net.kl(q), kl_formula, rtol=1e-5, atol=1e-6)
    torch.manual_seed(5)
    z = net.sample_latent(q)
    torch.manual_seed(5)
    eps = torch.randn(3, 4)
    torch.testing.assert_close(z, mean + (0.5 * logvar).exp() * eps)
    assert z.requires_grad


def test_vae_log_variance_is_clamped():
    net = VAE(latent_dim=2, hidden_dims=(4,), logvar_min=-3.0, logvar_max=1.0)
    with torch.no_grad():
        net.encoder.head.bias[2:] = 100.0
    assert torch.allclose(net.encode(_images(2)).stddev, torch.full((2, 2), math.exp(0.5)))


def test_bernoulli_likelihood_is_computed_from_logits():
    net = VAE(latent_dim=2, hidden_dims=(4,))
    px = net.decode(torch.zeros(2, 2))
    assert isinstance(px, Independent) and isinstance(px.base_dist, Bernoulli)
    # logits of 60 saturate a sigmoid in float32; the log-likelihood must stay finite and exact.
    logits = torch.full((1, 1, 28, 28), 60.0)
    x = torch.zeros(1, 1, 28, 28)
    assert net.pixel_distribution(logits).log_prob(x).item() == pytest.approx(-60.0 * 784)


def test_gaussian_likelihood_and_conv_variant():
    torch.manual_seed(0)
    net = VAE(
        architecture="conv",
        conv_channels=(8, 16),
        activation="relu",
        latent_dim=6,
        likelihood="gaussian",
        decoder_logvar_min=-4.0,
        decoder_logvar_max=1.0,
    )
    x = torch.rand(2, 1, 28, 28)
    px = net.decode(net.encode(x).rsample())
    assert isinstance(px.base_dist, Normal) and px.event_shape == (1, 28, 28)
    assert (px.base_dist.scale >= math.exp(-2.0) - 1e-6).all() and (
        px.base_dist.scale <= math.exp(0.5) + 1e-6
    ).all()
    assert torch.isfinite(px.log_prob(x)).all()


def test_gumbel_vae_categorical_posterior_and_kl_to_uniform():
    torch.manual_seed(0)
    net = GumbelVAE(num_variables=3, num_classes=4, hidden_dims=(16,))
    q = net.encode(_images(2))
    assert isinstance(q, OneHotCategorical) and q.batch_shape == (2, 3) and q.event_shape == (4,)
    entropy = -(q.probs * q.probs.log()).sum(-1)
    torch.testing.assert_close(net.kl(q), math.log(4) - entropy)
    z = net.sample_latent(q)
    assert z.shape == (2, 3, 4)
    torch.testing.assert_close(z.sum(-1), torch.ones(2, 3))


def test_gumbel_vae_temperature_follows_the_schedule():
    net = GumbelVAE(
        num_variables=2,
        num_classes=3,
        hidden_dims=(8,),
        temperature=1.0,
        temperature_min=0.5,
        anneal_rate=1e-3,
        anneal_every=100,
    )
    assert net.update_schedule(250) == {"temperature": pytest.approx(math.exp(-0.2))}
    assert net.temperature.item() == pytest.approx(math.exp(-0.2))
    assert "temperature" in net.state_dict()


def test_concrete_vae_has_binary_units_with_a_bernoulli_prior():
    net = zoo.create_model("concrete_vae")
    q = net.encode(_images(2))
    assert isinstance(q, Bernoulli) and q.batch_shape == (2, 200)
    assert net.prior().probs.unique().tolist() == [0.5]
    z = net.sample_latent(q)
    assert ((z > 0) & (z < 1)).all()


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (VAE, {"latent_dim": 0}, "latent_dim"),
        (VAE, {"logvar_min": 1.0, "logvar_max": 0.0}, "logvar_min"),
        (VAE, {"image_shape": (1, 30, 30), "architecture": "conv"}, "divisible by 4"),
        (VAE, {"image_shape": (28, 28)}, r"image_shape must be \(C, H, W\)"),
        (VAE, {"likelihood": "poisson"}, "likelihood"),
        (GumbelVAE, {"num_classes": 1}, "num_classes >= 2"),
        (GumbelVAE, {"latent": "bernoulli", "num_classes": 10}, "num_classes must be 2"),
        (GumbelVAE, {"temperature": 0.3, "temperature_min": 0.5}, "tau_min <= tau0"),
    ],
)
def test_bad_arguments_are_clear_errors(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)
