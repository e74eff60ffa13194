"""KL weight schedules (constant / beta, linear warm-up, cyclical) and free bits against their formulas."""

from __future__ import annotations

import pytest
import torch

from zoo.tasks.kl_schedule import KLSchedule


def test_constant_is_beta():
    assert [KLSchedule("constant", beta=4.0).weight(t) for t in (0, 10, 10**6)] == [4.0, 4.0, 4.0]


def test_linear_warmup():
    schedule = KLSchedule("linear", beta=2.0, warmup_steps=100)
    for step in (0, 1, 50, 99, 100, 101, 5000):
        assert schedule.weight(step) == pytest.approx(2.0 * min(1.0, step / 100))


def test_cyclical_annealing_follows_fu_et_al():
    # Fu et al. (2019): tau = mod(t, C) / C; weight = tau / R while tau <= R, else 1 (times beta).
    schedule = KLSchedule("cyclical", beta=1.0, cycle_steps=1000, cycle_ratio=0.5)
    for step in (0, 250, 499, 500, 750, 999, 1000, 1250, 1600, 3999):
        tau = (step % 1000) / 1000
        assert schedule.weight(step) == pytest.approx(tau / 0.5 if tau <= 0.5 else 1.0)
    assert schedule.weight(1000) == 0.0 and schedule.weight(999) == 1.0


def test_free_bits_clamps_the_batch_mean_kl_per_unit():
    kl_units = torch.tensor([[0.1, 2.0, 0.0], [0.3, 1.0, 0.0]], requires_grad=True)
    plain = KLSchedule().objective_kl(kl_units)
    assert plain.item() == pytest.approx(3.4 / 2)
    free = KLSchedule(free_bits=0.5).objective_kl(kl_units)
    # unit means 0.2, 1.5, 0.0 -> max(0.5, .) = 0.5, 1.5, 0.5
    assert free.item() == pytest.approx(2.5)
    free.backward()
    # units under the threshold get no gradient; the active one gets the batch-mean gradient 1/B
    torch.testing.assert_close(kl_units.grad, torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "sigmoid"}, "kl_schedule"),
        ({"beta": -1.0}, "kl_beta"),
        ({"kind": "linear", "warmup_steps": 0}, "kl_warmup_steps"),
        ({"kind": "cyclical", "cycle_ratio": 0.0}, "kl_cycle_ratio"),
        ({"free_bits": -0.1}, "free_bits"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KLSchedule(**kwargs)
