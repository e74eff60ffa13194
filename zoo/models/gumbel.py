"""VAEs with discrete latents trained through the Gumbel-Softmax / Concrete relaxation.

Jang, Gu & Poole (ICLR 2017), section 4.2 "Generative modeling with variational autoencoders": N = 20
categorical variables of K = 10 classes, a 784-512-256 ReLU encoder and the mirrored decoder, a uniform
categorical prior, and the temperature annealed as tau = max(0.5, exp(-r t)) every N steps. ``hard=True``
is their straight-through (ST) Gumbel-Softmax. ``latent="bernoulli"`` swaps the categoricals for N binary
variables relaxed by the binary Concrete (Maddison, Mnih & Teh, ICLR 2017) with a Bernoulli(1/2) prior.

Training decodes the relaxed sample (``sample_latent``) and uses the analytic KL of the *discrete*
posterior to the prior, as the reference code does. The bounds reported at evaluation (negative ELBO,
IWAE) use exact discrete samples ``q.sample()``, so they are true bounds of the discrete model, not of
the relaxed one. The temperature is a buffer (saved in checkpoints) set from the global step by
:meth:`GumbelVAE.update_schedule`, which :class:`zoo.tasks.GenerativeTask` calls before every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch.distributions import Bernoulli, Distribution, OneHotCategorical

from zoo.choices import check_choice
from zoo.layers.gumbel import TemperatureSchedule, binary_concrete_sample, gumbel_softmax_sample
from zoo.models.latent import (
    ImageDecoder,
    ImageEncoder,
    LatentVariableModel,
    Likelihood,
    TrunkActivation,
    TrunkArchitecture,
)
from zoo.registry import register_model

#: The discrete latent: categorical variables (Gumbel-Softmax) or binary ones (binary Concrete).
LatentKind = Literal["categorical", "bernoulli"]


@register_model("gumbel_vae", task="generative")
@register_model(
    "gumbel_vae_st",
    task="generative",
    defaults={"hard": True},
    description="Categorical VAE with the straight-through Gumbel-Softmax estimator (Jang et al. 2017)",
)
@register_model(
    "concrete_vae",
    task="generative",
    defaults={"latent": "bernoulli", "num_variables": 200, "num_classes": 2},
    description="VAE with 200 binary latents relaxed by the binary Concrete (Maddison et al. 2017)",
)
class GumbelVAE(LatentVariableModel):
    """Discrete-latent VAE (see the module docstring); latent z is (B, N, K) one-hot or (B, N) binary.

    Args:
        image_shape: (C, H, W) of the data (the CLI links it from the datamodule).
        num_variables: N, the number of discrete latent variables.
        num_classes: K, the classes of each variable (must be 2 for ``latent="bernoulli"``).
        latent: "categorical" (Gumbel-Softmax) or "bernoulli" (binary Concrete).
        hard: straight-through: one-hot / rounded samples forward, relaxed gradients backward.
        temperature: tau0, the initial temperature of the :class:`TemperatureSchedule`.
        temperature_min: the temperature's floor (Jang et al. anneal to 0.5).
        anneal_rate: r of tau = max(temperature_min, tau0 exp(-r t)) (Jang et al.: 1e-5 or 1e-4).
        anneal_every: the temperature changes once every this many steps (Jang et al.: 500 or 1000).
        architecture: "mlp" (``hidden_dims``) or "conv" (``conv_channels``, two stride-2 layers), as in ``VAE``.
        hidden_dims: widths of the MLP encoder's hidden layers (the decoder mirrors them); Jang et al.'s
            784-512-256 by default.
        conv_channels: channels of the two stride-2 convolutions of the conv encoder, as in ``VAE``.
        activation: hidden non-linearity (Jang et al. use ReLU).
        likelihood: "bernoulli" for binary pixels, "gaussian" for grey levels.
        decoder_logvar_min: lower clamp of the Gaussian likelihood's per-pixel log-variance.
        decoder_logvar_max: upper clamp of the Gaussian likelihood's per-pixel log-variance.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_variables: int = 20,
        num_classes: int = 10,
        latent: LatentKind = "categorical",
        hard: bool = False,
        temperature: float = 1.0,
        temperature_min: float = 0.5,
        anneal_rate: float = 1e-4,
        anneal_every: int = 1000,
        architecture: TrunkArchitecture = "mlp",
        hidden_dims: Sequence[int] = (512, 256),
        conv_channels: Sequence[int] = (32, 64),
        activation: TrunkActivation = "relu",
        likelihood: Likelihood = "bernoulli",
        decoder_logvar_min: float = -6.0,
        decoder_logvar_max: float = 2.0,
    ) -> None:
        super().__init__(image_shape, likelihood, decoder_logvar_min, decoder_logvar_max)
        if num_variables <= 0 or num_classes < 2:
            raise ValueError(
                f"GumbelVAE: need num_variables >= 1 and num_classes >= 2, got {num_variables}, {num_classes}"
            )
        check_choice("latent", latent, LatentKind, owner="GumbelVAE")
        if latent == "bernoulli" and num_classes != 2:
            raise ValueError(
                f"GumbelVAE: latent='bernoulli' has binary units, so num_classes must be 2, got {num_classes}"
            )
        self.num_variables, self.num_classes, self.latent, self.hard = (
            num_variables,
            num_classes,
            latent,
            hard,
        )
        self.schedule = TemperatureSchedule(temperature, temperature_min, anneal_rate, anneal_every)
        # Categorical: N*K logits; binary: one logit per variable.
        logits = num_variables * num_classes if latent == "categorical" else num_variables
        hidden, channels = list(hidden_dims), list(conv_channels)
        self.encoder = ImageEncoder(self.image_shape, logits, architecture, hidden, channels, activation)
        self.decoder = ImageDecoder(
            self.image_shape, logits, self.likelihood_params, architecture, hidden, channels, activation
        )
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        prior_shape = (num_variables, num_classes) if latent == "categorical" else (num_variables,)
        self.register_buffer("prior_logits", torch.zeros(prior_shape), persistent=False)

    @property
    def relaxed_latent(self) -> bool:
        """True unless straight-through: hard samples are exact draws from the categorical / Bernoulli."""
        return not self.hard

    def encode(self, x: torch.Tensor) -> Distribution:
        """q(z|x): OneHotCategorical of batch shape (B, N) over K classes, or Bernoulli (B, N)."""
        logits = self.encoder(x)
        if self.latent == "categorical":
            return OneHotCategorical(
                logits=logits.reshape(-1, self.num_variables, self.num_classes), validate_args=False
            )
        return Bernoulli(logits=logits, validate_args=False)

    def prior(self) -> Distribution:
        """The uniform prior: 1/K per class, or Bernoulli(1/2)."""
        if self.latent == "categorical":
            return OneHotCategorical(logits=self.prior_logits, validate_args=False)
        return Bernoulli(logits=self.prior_logits, validate_args=False)

    def sample_latent(
        self, posterior: Distribution, sample_shape: torch.Size | tuple[int, ...] = ()
    ) -> torch.Tensor:
        """A relaxed (or straight-through) sample at the current temperature, (*sample_shape, B, N[, K])."""
        logits = posterior.logits
        sampler = gumbel_softmax_sample if self.latent == "categorical" else binary_concrete_sample
        return sampler(logits, self.temperature, hard=self.hard, sample_shape=sample_shape)

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for z (..., N, K) or (..., N); event shape (C, H, W)."""
        flat = z.flatten(-2) if self.latent == "categorical" else z
        # The samplers return float32 (zoo.layers.gumbel); the buffer carries the module's dtype (e.g. float64).
        return self.pixel_distribution(self.decoder(flat.to(self.temperature.dtype)))

    def update_schedule(self, step: int) -> dict[str, float]:
        """Set the temperature to the schedule's value at ``step``; returns ``{"temperature": tau}``."""
        tau = self.schedule(step)
        self.temperature.fill_(tau)
        return {"temperature": tau}
