"""The variational autoencoder with a Gaussian latent (Kingma & Welling, ICLR 2014).

q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I), p(x|z) Bernoulli (logits) or Gaussian. The defaults
are the one-stochastic-layer model of Burda, Grosse & Salakhutdinov (ICLR 2016, "Importance Weighted
Autoencoders", section 5): a 784-200-200-50 MLP encoder with tanh units and the mirrored decoder. The
``conv`` architecture swaps both MLPs for two stride-2 convolutions (see :mod:`zoo.models.latent`).

Differences from the references: the encoder's log-variance is clamped to ``[logvar_min, logvar_max]``
(a guard against exp overflow early in training that the papers do not need in float64 Theano);
the reparameterisation trick is ``torch.distributions.Normal.rsample``. The beta-VAE (Higgins et al.,
ICLR 2017) is this model with a KL weight beta set in :class:`zoo.tasks.GenerativeTask`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import Distribution, Normal

from zoo.models.latent import (
    ImageDecoder,
    ImageEncoder,
    LatentVariableModel,
    Likelihood,
    TrunkActivation,
    TrunkArchitecture,
)
from zoo.registry import register_model


@register_model("vae", task="generative")
@register_model(
    "vae_conv",
    task="generative",
    defaults={"architecture": "conv", "activation": "relu", "latent_dim": 32},
    description="VAE with a convolutional encoder/decoder (two stride-2 layers), 32 Gaussian latents",
)
class VAE(LatentVariableModel):
    """Gaussian-latent VAE over images (B, C, H, W); see the module docstring.

    Args:
        image_shape: (C, H, W) of the data (the CLI links it from the datamodule).
        latent_dim: Z, the number of Gaussian latent units.
        architecture: "mlp" (``hidden_dims``) or "conv" (``conv_channels``, two stride-2 layers).
        hidden_dims: widths of the MLP encoder's hidden layers (the decoder mirrors them); Burda et al.'s
            784-200-200 by default.
        conv_channels: channels of the two stride-2 convolutions of the conv encoder (mirrored by the
            decoder's transposed convolutions).
        activation: hidden non-linearity (Burda et al. use tanh).
        likelihood: "bernoulli" for binary pixels, "gaussian" for grey levels.
        logvar_min: lower clamp of the encoder's log-variance (a guard against exp overflow).
        logvar_max: upper clamp of the encoder's log-variance.
        decoder_logvar_min: lower clamp of the Gaussian likelihood's per-pixel log-variance.
        decoder_logvar_max: upper clamp of the Gaussian likelihood's per-pixel log-variance.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 50,
        architecture: TrunkArchitecture = "mlp",
        hidden_dims: Sequence[int] = (200, 200),
        conv_channels: Sequence[int] = (32, 64),
        activation: TrunkActivation = "tanh",
        likelihood: Likelihood = "bernoulli",
        logvar_min: float = -10.0,
        logvar_max: float = 10.0,
        decoder_logvar_min: float = -6.0,
        decoder_logvar_max: float = 2.0,
    ) -> None:
        super().__init__(image_shape, likelihood, decoder_logvar_min, decoder_logvar_max)
        if latent_dim <= 0:
            raise ValueError(f"VAE: latent_dim must be positive, got {latent_dim}")
        if logvar_min >= logvar_max:
            raise ValueError(f"VAE: logvar_min ({logvar_min}) must be < logvar_max ({logvar_max})")
        self.latent_dim = latent_dim
        self.logvar_range = (float(logvar_min), float(logvar_max))
        hidden, channels = list(hidden_dims), list(conv_channels)
        self.encoder = ImageEncoder(
            self.image_shape, 2 * latent_dim, architecture, hidden, channels, activation
        )
        self.decoder = ImageDecoder(
            self.image_shape, latent_dim, self.likelihood_params, architecture, hidden, channels, activation
        )
        self.register_buffer("prior_loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("prior_scale", torch.ones(latent_dim), persistent=False)

    def encode(self, x: torch.Tensor) -> Normal:
        """q(z|x): Normal with batch shape (B, Z)."""
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        logvar = logvar.clamp(*self.logvar_range)
        return Normal(mean, torch.exp(0.5 * logvar), validate_args=False)

    def prior(self) -> Normal:
        """p(z) = N(0, I), batch shape (Z,)."""
        return Normal(self.prior_loc, self.prior_scale, validate_args=False)

    def sample_latent(
        self, posterior: Distribution, sample_shape: torch.Size | tuple[int, ...] = ()
    ) -> torch.Tensor:
        """The reparameterised sample mu + sigma * eps, (*sample_shape, B, Z)."""
        return posterior.rsample(torch.Size(sample_shape))

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for z (..., Z): event shape (C, H, W)."""
        return self.pixel_distribution(self.decoder(z))
