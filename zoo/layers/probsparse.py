"""ProbSparse self-attention (Zhou et al., Informer, AAAI 2021) as an attention kernel for ``MultiHeadAttention``.

The computation is ``kernels.probsparse_attention`` (Triton on CUDA, a chunked PyTorch fallback elsewhere):
each query is scored on U = factor * ceil(ln L_K) sampled keys, the top u = factor * ceil(ln L_Q) queries
attend to every key and the rest ("lazy" queries) take the mean of V (or its running sum when causal).
This module only adapts the layer's interface to the op:

- the key sample comes from the global RNG in training (Lightning reseeds it per step in our tasks, so
  resumed runs draw the same samples) and, in eval mode, from a private generator seeded with
  ``eval_seed`` on every call, so validation and test metrics do not depend on what ran before;
  ``eval_seed=None`` samples from the global RNG in eval too. That eval sample depends only on
  (L_Q, L_K, device): an eager call also keeps it (not in the state dict), and under ``torch.compile`` /
  ``torch.export`` the kept sample is passed to the op, so the program holds it as a constant, where a
  generator could not be exported;
- ALiBi slopes pass through (the op adds -m |i - j| to sampled and active scores); since the op measures
  distance by index, ALiBi needs aligned, evenly spaced query and key positions (self-attention), and
  a stride s between positions (after distilling) multiplies the slopes by s;
- padding / attention masks are not supported by the op and raise a clear error;
- the reference applies no dropout to ProbSparse weights (its ``ProbAttention`` defines a dropout it never
  uses), and neither does this kernel: ``dropout_p`` is ignored.
"""

from __future__ import annotations

import torch

from kernels import probsparse_attention
from kernels.probsparse_attention import sample_index
from kernels.triton_support import Backend
from zoo.choices import check_choice
from zoo.layers.attention import AttentionKernel, same_positions


class ProbSparseAttention(AttentionKernel):
    """ProbSparse attention kernel; see the module docstring.

    Args:
        factor: the sampling factor c of U = c ln L_K and u = c ln L_Q (Informer's default 5).
        eval_seed: seed of the key sample in eval mode (None: the global RNG).
        backend: ``kernels.probsparse_attention`` backend ("auto", "triton" or "torch").
    """

    def __init__(self, factor: int = 5, eval_seed: int | None = 0, backend: Backend = "auto") -> None:
        super().__init__()
        if factor < 1:
            raise ValueError(f"ProbSparseAttention: factor must be >= 1, got {factor}")
        check_choice("backend", backend, Backend, owner="ProbSparseAttention")
        self.factor, self.eval_seed, self.backend = factor, eval_seed, backend
        self._eval_samples: dict[tuple[int, int, str], torch.Tensor] = {}

    def _eval_draw(
        self, l_q: int, l_k: int, device: torch.device
    ) -> tuple[torch.Tensor | None, torch.Generator | None]:
        """The eval-mode key sample, as (index_sample, generator) for the op: in eager calls a generator seeded
        with ``eval_seed`` (its draw is also kept, per (L_Q, L_K, device)); under ``torch.compile`` /
        ``torch.export`` the kept draw, a constant of the graph (the generator when no eager call kept one)."""
        key = (l_q, l_k, str(device))
        kept = self._eval_samples.get(key)
        compiling = torch.compiler.is_compiling()
        if compiling and kept is not None:
            return kept, None
        generator = torch.Generator(device=device)
        generator.manual_seed(self.eval_seed)
        if not compiling and kept is None:
            draw = torch.Generator(device=device)
            draw.manual_seed(self.eval_seed)
            self._eval_samples[key] = sample_index(l_q, l_k, self.factor, generator=draw, device=device)
        return None, generator

    def extra_repr(self) -> str:
        return f"factor={self.factor}, eval_seed={self.eval_seed}, backend={self.backend!r}"

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        scale: float,
        causal: bool,
        mask: torch.Tensor | None,
        alibi_slopes: torch.Tensor | None,
        q_positions: torch.Tensor,
        k_positions: torch.Tensor,
        dropout_p: float,
    ) -> torch.Tensor:
        if mask is not None:
            raise ValueError(
                "ProbSparse attention does not support padding or attention masks; "
                "use attention='full' for masked inputs"
            )
        if (alibi_slopes is not None or causal) and not same_positions(q_positions, k_positions):
            raise ValueError(
                "ProbSparse attention with ALiBi or a causal mask needs the same query and key "
                "positions (self-attention)"
            )
        if alibi_slopes is not None and q_positions.numel() > 1:
            # The op measures ALiBi distance in indices; positions spaced by a constant stride (e.g. after
            # Informer's distilling, every other step) scale that distance, so scale the slopes instead.
            stride = q_positions[1] - q_positions[0]
            expected = q_positions[0] + stride * torch.arange(q_positions.numel(), device=q_positions.device)
            if not bool(torch.equal(q_positions, expected)) or int(stride) <= 0:
                raise ValueError("ProbSparse attention with ALiBi needs evenly spaced, increasing positions")
            alibi_slopes = alibi_slopes * stride.to(alibi_slopes.dtype)
        index_sample, generator = None, None
        if not self.training and self.eval_seed is not None:
            index_sample, generator = self._eval_draw(q.shape[2], k.shape[2], q.device)
        return probsparse_attention(
            q,
            k,
            v,
            factor=self.factor,
            causal=causal,
            index_sample=index_sample,
            generator=generator,
            scale=scale,
            alibi_slopes=alibi_slopes,
            backend=self.backend,
        )
