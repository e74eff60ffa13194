"""The contract shared by every latent-variable model, and the encoder/decoder trunks they share.

A latent-variable model is a plain ``nn.Module`` over images x (B, C, H, W) that exposes its pieces as
``torch.distributions`` objects, so :class:`zoo.tasks.GenerativeTask` computes every bound (ELBO, IWAE)
the same way for Gaussian, categorical and binary latents:

- ``encode(x) -> q(z|x)``: the exact posterior, batch shape (B, *unit_shape). A latent *unit* is one
  Gaussian dimension, one categorical variable (event shape (K,)) or one binary variable.
- ``prior() -> p(z)``: broadcastable against ``encode``'s batch shape.
- ``sample_latent(q, sample_shape) -> z``: the differentiable training sample (the reparameterisation
  trick for Gaussians; the Gumbel-Softmax / binary-concrete relaxation for discrete latents). Bounds at
  evaluation use exact samples ``q.sample()`` instead.
- ``decode(z) -> p(x|z)``: an ``Independent`` distribution whose event shape is the image shape, so
  ``log_prob`` sums over pixels (nats per image). Bernoulli likelihoods take logits (no sigmoid-then-log).
  Distributions are built with ``validate_args=False``: argument checks would cost a pass over every
  tensor at every step, and a non-finite value is caught once, by the task's loss check, with a
  message naming the step and the terms (a Bernoulli on grey levels is then the usual cross-entropy).
- ``kl(q) -> (B, U)``: KL(q || p) per latent unit, analytic.
- ``update_schedule(step) -> dict``: schedules the model owns (the Gumbel temperature), as functions of
  the global step; returns the values to log.

Encoder/decoder trunks: the MLP of Kingma & Welling (2014) and Burda et al. (2016) (784-200-200 with
tanh by default), and a small DCGAN-style convolutional pair (two stride-2 convolutions) for 28x28
images. Both map to/from a flat feature vector; the heads are the models' own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, kl_divergence

from zoo.choices import check_choice
from zoo.models.base import RecordsConstructorArgs
from zoo.precision import at_least_float32

#: The encoder/decoder trunk: an MLP, or two stride-2 convolutions (DCGAN-style).
TrunkArchitecture = Literal["mlp", "conv"]
#: The trunks' hidden non-linearity.
TrunkActivation = Literal["tanh", "relu", "elu", "softplus"]
Likelihood = Literal["bernoulli", "gaussian"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
}


@dataclass
class LatentOutput:
    """What ``forward`` returns: the posterior, the training sample and the likelihood of the input."""

    posterior: Distribution
    z: torch.Tensor
    likelihood: Distribution


def _check_image_shape(owner: str, image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise ValueError(
            f"{owner}: image_shape must be (C, H, W) with positive sizes, got {tuple(image_shape)}"
        )
    return shape  # type: ignore[return-value]


def mlp(sizes: Sequence[int], activation: TrunkActivation, final_activation: bool) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between (and after if asked)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ImageEncoder(nn.Module):
    """x (B, C, H, W) -> features (B, out_features) by an MLP or two stride-2 convolutions + a linear layer."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        out_features: int,
        architecture: TrunkArchitecture,
        hidden_dims: Sequence[int],
        conv_channels: Sequence[int],
        activation: TrunkActivation,
    ) -> None:
        super().__init__()
        check_choice("architecture", architecture, TrunkArchitecture)
        check_choice("activation", activation, TrunkActivation)
        channels, height, width = image_shape
        if architecture == "mlp":
            self.trunk: nn.Module = nn.Sequential(
                nn.Flatten(),
                mlp([channels * height * width, *hidden_dims], activation, final_activation=True),
            )
            trunk_out = hidden_dims[-1] if hidden_dims else channels * height * width
        else:  # conv
            _check_conv_shape(image_shape, conv_channels)
            act = _ACTIVATIONS[activation]
            blocks: list[nn.Module] = []
            for c_in, c_out in zip([channels, *conv_channels[:-1]], conv_channels, strict=True):
                blocks += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1), act()]
            self.trunk = nn.Sequential(*blocks, nn.Flatten())
            trunk_out = conv_channels[-1] * (height // 4) * (width // 4)
        self.head = nn.Linear(trunk_out, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 out: the posterior's parameters, its KL and samples stay fp32 under bf16/fp16 autocast
        return at_least_float32(self.head(self.trunk(x)))


class ImageDecoder(nn.Module):
    """z (..., in_features) -> per-pixel parameters (..., n_params * C, H, W), mirroring :class:`ImageEncoder`."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        in_features: int,
        n_params: int,
        architecture: TrunkArchitecture,
        hidden_dims: Sequence[int],
        conv_channels: Sequence[int],
        activation: TrunkActivation,
    ) -> None:
        super().__init__()
        check_choice("architecture", architecture, TrunkArchitecture)
        check_choice("activation", activation, TrunkActivation)
        self.image_shape, self.n_params = image_shape, n_params
        channels, height, width = image_shape
        self.out_shape = (n_params * channels, height, width)
        if architecture == "mlp":
            self.net: nn.Module = mlp(
                [in_features, *reversed(hidden_dims), n_params * channels * height * width],
                activation,
                final_activation=False,
            )
        else:  # conv
            _check_conv_shape(image_shape, conv_channels)
            act = _ACTIVATIONS[activation]
            top = list(reversed(conv_channels))
            blocks: list[nn.Module] = [
                nn.Linear(in_features, top[0] * (height // 4) * (width // 4)),
                act(),
                nn.Unflatten(-1, (top[0], height // 4, width // 4)),
            ]
            outs = [*top[1:], n_params * channels]
            for i, (c_in, c_out) in enumerate(zip(top, outs, strict=True)):
                blocks.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1))
                if i < len(outs) - 1:
                    blocks.append(act())
            self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        # (..., F) -> (N, F) -> (N, n_params * C, H, W) -> (..., n_params * C, H, W)
        out = self.net(z.reshape(-1, z.shape[-1]))
        return at_least_float32(
            out.reshape(*lead, *self.out_shape)
        )  # p(x|z) and its log-likelihood in fp32 under autocast


def _check_conv_shape(image_shape: tuple[int, int, int], conv_channels: Sequence[int]) -> None:
    if len(conv_channels) != 2:
        raise ValueError(
            f"conv architecture takes two conv_channels (two stride-2 layers), got {list(conv_channels)}"
        )
    if image_shape[1] % 4 or image_shape[2] % 4:
        raise ValueError(f"conv architecture needs H and W divisible by 4, got image_shape {image_shape}")


class LatentVariableModel(RecordsConstructorArgs, nn.Module):
    """Base class: the image shape, the likelihood head and the generic pieces of the contract above.

    Args:
        image_shape: (C, H, W) of the data (the CLI links it from the datamodule).
        likelihood: "bernoulli" (binary pixels; logits) or "gaussian" (a per-pixel mean and a learned
            per-pixel log-variance clamped to ``[decoder_logvar_min, decoder_logvar_max]``).
        decoder_logvar_min: lower clamp of the Gaussian likelihood's per-pixel log-variance.
        decoder_logvar_max: upper clamp of the Gaussian likelihood's per-pixel log-variance.
    """

    #: LoRA default: every linear (and 1-D convolution) layer of the encoder and the decoder.
    lora_target_modules: ClassVar[str] = r"(encoder|decoder)\..*"

    def __init__(
        self,
        image_shape: Sequence[int],
        likelihood: Likelihood = "bernoulli",
        decoder_logvar_min: float = -6.0,
        decoder_logvar_max: float = 2.0,
    ) -> None:
        super().__init__()
        self.image_shape = _check_image_shape(type(self).__name__, image_shape)
        check_choice("likelihood", likelihood, Likelihood, owner=type(self).__name__)
        if decoder_logvar_min >= decoder_logvar_max:
            raise ValueError(f"{type(self).__name__}: decoder_logvar_min must be < decoder_logvar_max")
        self.likelihood = likelihood
        self.decoder_logvar_range = (float(decoder_logvar_min), float(decoder_logvar_max))

    def compiled_networks(self) -> list[nn.Module]:
        """What ``model.compile`` compiles (:mod:`zoo.tasks.compiling`): the encoder and decoder networks,
        whose inputs and outputs are tensors; distributions and samplers stay eager."""
        return [self.encoder, self.decoder]

    @property
    def relaxed_latent(self) -> bool:
        """Whether ``sample_latent`` draws from a relaxation of ``encode``'s distribution, not from it."""
        return False

    @property
    def likelihood_params(self) -> int:
        """Decoder outputs per pixel: 1 logit, or a mean and a log-variance."""
        return 1 if self.likelihood == "bernoulli" else 2

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error when ``x`` is not (B, C, H, W) with this model's image shape."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{type(self).__name__}: expected images of shape (B, {', '.join(map(str, self.image_shape))}), "
                f"got {tuple(x.shape)}"
            )

    def pixel_distribution(self, params: torch.Tensor) -> Distribution:
        """p(x|z) from decoder outputs (..., n_params * C, H, W); event shape (C, H, W)."""
        if self.likelihood == "bernoulli":
            return Independent(Bernoulli(logits=params, validate_args=False), 3, validate_args=False)
        channels = self.image_shape[0]
        mean, logvar = params[..., :channels, :, :], params[..., channels:, :, :]
        logvar = logvar.clamp(*self.decoder_logvar_range)
        return Independent(Normal(mean, torch.exp(0.5 * logvar), validate_args=False), 3, validate_args=False)

    # -- the contract: subclasses implement encode, prior, sample_latent, decode
    def encode(self, x: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def prior(self) -> Distribution:
        raise NotImplementedError

    def sample_latent(
        self, posterior: Distribution, sample_shape: torch.Size | tuple[int, ...] = ()
    ) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def kl(self, posterior: Distribution) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per latent unit, (B, U)."""
        # Expanded to the posterior's batch shape: torch's Bernoulli KL indexes with masks that do not broadcast.
        per_unit = kl_divergence(posterior, self.prior().expand(posterior.batch_shape))
        return per_unit.reshape(per_unit.shape[0], -1)

    def unit_means(self, posterior: Distribution) -> torch.Tensor:
        """E_q[z] per unit, (B, U, d): d = 1 for scalar units, K for a categorical's class probabilities."""
        mean = posterior.mean
        per_unit = mean.shape[-1] if posterior.event_shape else 1
        return mean.reshape(mean.shape[0], -1, per_unit)

    def log_prior_ratio(self, z: torch.Tensor, posterior: Distribution) -> torch.Tensor:
        """log p(z) - log q(z|x), summed over latent units: (S, B) for z of shape (S, B, ...)."""
        ratio = self.prior().log_prob(z) - posterior.log_prob(z)
        return ratio.reshape(*ratio.shape[:2], -1).sum(-1)

    def update_schedule(self, step: int) -> dict[str, float]:
        """Set step-dependent state (none by default); return what to log."""
        return {}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The likelihood's mean at the posterior mode, (B, C, H, W)."""
        return self.decode(self.encode(x).mode).mean

    @torch.no_grad()
    def generate(self, num_samples: int) -> torch.Tensor:
        """The likelihood's mean for ``num_samples`` prior draws, (num_samples, C, H, W)."""
        z = self.prior().sample((num_samples,))
        return self.decode(z).mean

    def forward(self, x: torch.Tensor) -> LatentOutput:
        """Encode, draw one training sample and decode: a :class:`LatentOutput` for x (B, C, H, W)."""
        self.check_input(x)
        posterior = self.encode(x)
        z = self.sample_latent(posterior)
        return LatentOutput(posterior, z, self.decode(z))
