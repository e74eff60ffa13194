"""LoRA (zoo.adapters): no-op at initialisation, merge = unmerged, disable = base, gradients only in the
adapter, rsLoRA scaling, named adapters, save/load with base checks, and PEFT loading our files."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo
from tests.helpers import SMALL_FORECAST, seeded_output, small_input, small_model
from zoo import hub
from zoo.adapters import (
    LoraConfig,
    disable_adapter,
    get_lora_model,
    load_adapter,
    merge,
    merge_and_unload,
    print_trainable_parameters,
    save_adapter,
    set_adapter,
    unmerge,
)
from zoo.adapters.adapter_io import ADAPTER_CONFIG, base_fingerprint
from zoo.adapters.lora import LoraLayer, base_state_dict, lora_layers

ADAPTABLE_MODELS = [n for n in zoo.list_models() if n != "naive"]


@pytest.mark.parametrize("name", ADAPTABLE_MODELS)
def test_fresh_adapter_changes_nothing_for_every_registered_model(name: str) -> None:
    # Frozen first: on CPU, PyTorch picks another RNN kernel (oneDNN) when no weight requires a gradient,
    # which alone moves GRU outputs by ~1e-8; the adapter must change nothing beyond that choice.
    net = small_model(name).eval().requires_grad_(False)
    x = small_input(name, seed=5)
    with torch.no_grad():
        before = seeded_output(net, x, 11)
        get_lora_model(net, LoraConfig(r=4, lora_alpha=8))
        after = seeded_output(net, x, 11)
    assert lora_layers(net), "no layer adapted"
    assert torch.equal(after, before)


@pytest.mark.parametrize("name", ADAPTABLE_MODELS)
def test_trained_adapter_merge_unmerge_disable_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    net = small_model(name)
    base = {k: v.clone() for k, v in net.state_dict().items()}
    get_lora_model(net, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1))
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    net.train()
    for _ in range(3):
        optimiser.zero_grad()
        seeded_output(net, small_input(name, seed=5), 11).square().mean().backward()
        for n, p in net.named_parameters():
            assert (p.grad is not None) == (n in trainable), n  # only adapter parameters receive gradients
        optimiser.step()
    # the frozen base is bit-identical after the steps
    for key, value in base_state_dict(net).items():
        if key in base:
            assert torch.equal(value, base[key]), key
    net.eval()
    x = small_input(name, seed=5)
    with torch.no_grad():
        adapted = seeded_output(net, x, 11)
        with disable_adapter(net):
            plain = seeded_output(net, x, 11)
        merge(net)
        merged = seeded_output(net, x, 11)
        unmerge(net)
        unmerged = seeded_output(net, x, 11)
    reference = small_model(name).eval().requires_grad_(False)  # frozen like the base (same RNN kernel)
    reference.load_state_dict(base)
    with torch.no_grad():
        torch.testing.assert_close(plain, seeded_output(reference, x, 11), rtol=0, atol=0)
    assert not torch.allclose(adapted, plain), "training moved nothing"
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(unmerged, adapted, rtol=1e-5, atol=1e-5)


def test_lora_math_on_a_linear_layer_and_rslora_scaling() -> None:
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(6, 5))
    x = torch.randn(4, 6)
    for use_rslora, scale in ((False, 12 / 4), (True, 12 / math.sqrt(4))):
        net = nn.Sequential(nn.Linear(6, 5))
        net.load_state_dict(layer.state_dict())
        get_lora_model(
            net,
            LoraConfig(
                r=4, lora_alpha=12, target_modules=["0"], init_lora_weights=False, use_rslora=use_rslora
            ),
        )
        wrapped: LoraLayer = net[0]
        a, b = wrapped.lora_A["default"]["weight"], wrapped.lora_B["default"]["weight"]
        expected = x @ layer[0].weight.T + layer[0].bias + scale * (x @ a.T @ b.T)
        torch.testing.assert_close(net(x), expected)


def test_recurrent_weights_are_adapted_through_every_matrix() -> None:
    net = zoo.create_model("gru", num_layers=2, **SMALL_FORECAST)
    get_lora_model(net, LoraConfig(r=2))
    layer = dict(lora_layers(net))["encoder"]
    assert sorted(layer.param_names) == ["weight_hh_l0", "weight_hh_l1", "weight_ih_l0", "weight_ih_l1"]
    assert layer.lora_A["default"]["weight_hh_l0"].shape == (2, net.encoder.base_layer.hidden_size)


def test_named_adapters_switch_and_train_separately() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("tcn", **SMALL_FORECAST).eval()
    x = torch.randn(2, 16, 3)
    get_lora_model(net, LoraConfig(r=2, init_lora_weights=False), adapter_name="first")
    first = net(x)
    get_lora_model(net, LoraConfig(r=4, init_lora_weights=False), adapter_name="second")
    second = net(x)
    assert not torch.allclose(first, second)
    set_adapter(net, "first")
    torch.testing.assert_close(net(x), first)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(".first." in n for n in trainable)
    with pytest.raises(KeyError, match="no adapter 'third'"):
        set_adapter(net, "third")
    with pytest.raises(ValueError, match="already exists"):
        get_lora_model(net, LoraConfig(), adapter_name="first")


def test_target_selection_errors_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"target_modules \['nothing'\] match no adaptable layer"):
        get_lora_model(
            zoo.create_model("lstm", **SMALL_FORECAST), LoraConfig(target_modules=["head", "nothing"])
        )
    with pytest.raises(ValueError, match="names no default LoRA targets"):
        get_lora_model(zoo.create_model("naive", **SMALL_FORECAST), LoraConfig())
    with pytest.raises(ValueError, match="r must be positive"):
        LoraConfig(r=0)
    regex = get_lora_model(
        zoo.create_model("transformer", **SMALL_FORECAST), LoraConfig(target_modules=r".*\.ffn\.fc\d")
    )
    assert {n.rsplit(".", 1)[1] for n, _ in lora_layers(regex)} == {"fc1", "fc2"}
    net = get_lora_model(
        zoo.create_model("informer", **SMALL_FORECAST), LoraConfig(r=4, modules_to_save=["projection"])
    )
    assert {n.rsplit(".", 1)[1] for n, _ in lora_layers(net)} == {"q_proj", "k_proj", "v_proj", "out_proj"}
    print_trainable_parameters(net)
    out = capsys.readouterr().out
    assert out.startswith("trainable params: ") and "trainable%" in out


def test_merge_and_unload_gives_the_plain_model_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = zoo.create_model("tcn", **SMALL_FORECAST).eval()  # weight-normed causal convolutions
    with pytest.raises(ValueError, match="'head' is also a LoRA target"):
        get_lora_model(net, LoraConfig(modules_to_save=["head"]))  # the default targets include the head
    get_lora_model(
        net,
        LoraConfig(r=4, init_lora_weights=False, target_modules=r".*\.conv[12]", modules_to_save=["head"]),
    )
    with torch.no_grad():
        net.head.modules_to_save["default"].bias.add_(0.5)
        adapted = net(torch.ones(1, 16, 3))
        plain = merge_and_unload(net)
        torch.testing.assert_close(plain(torch.ones(1, 16, 3)), adapted, rtol=1e-5, atol=1e-5)
    assert not [m for m in plain.modules() if isinstance(m, LoraLayer)]
    assert set(plain.state_dict()) == set(zoo.create_model("tcn", **SMALL_FORECAST).state_dict())
    hub.from_pretrained(hub.save_pretrained(plain, tmp_path / "tcn.merged"))  # a plain pretrained model again


def test_disable_adapter_refuses_merged_weights() -> None:
    net = get_lora_model(zoo.create_model("lstm", **SMALL_FORECAST), LoraConfig())
    merge(net)
    with pytest.raises(RuntimeError, match="unmerge"), disable_adapter(net):
        pass


def _trained(name: str = "transformer", **config: object) -> nn.Module:
    torch.manual_seed(1)
    net = zoo.create_model(name, **SMALL_FORECAST).eval()
    get_lora_model(net, LoraConfig(r=4, init_lora_weights=False, **config))
    return net


def test_save_load_round_trip_and_base_checks(tmp_path: Path) -> None:
    net = _trained(modules_to_save=["projection"])
    with torch.no_grad():
        net.projection.modules_to_save["default"].weight.mul_(2)
    directory = save_adapter(net, tmp_path / "adapter", metadata={"note": "test"})
    document = json.loads((directory / ADAPTER_CONFIG).read_text())
    assert document["peft_type"] == "LORA" and document["zoo"]["architecture"] == "transformer"
    assert document["zoo"]["note"] == "test" and document["modules_to_save"] == ["projection"]
    x = torch.randn(2, 16, 3)
    fresh = zoo.create_model("transformer", **SMALL_FORECAST).eval()
    fresh.load_state_dict(base_state_dict(net))
    load_adapter(fresh, directory)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), net(x), rtol=0, atol=0)
    assert not any(p.requires_grad for p in fresh.parameters())
    trainable = zoo.create_model("transformer", **SMALL_FORECAST)
    trainable.load_state_dict(base_state_dict(net))
    load_adapter(trainable, directory, is_trainable=True)
    names = {n for n, p in trainable.named_parameters() if p.requires_grad}
    assert names and all(".lora_" in n or ".modules_to_save." in n for n in names)
    other = zoo.create_model("transformer", **SMALL_FORECAST)  # other random base weights
    with pytest.raises(
        hub.ArchitectureMismatchError, match=rf"{ADAPTER_CONFIG}: the adapter was trained on base weights"
    ):
        load_adapter(other, directory)
    with pytest.raises(
        hub.ArchitectureMismatchError, match="the adapter is for 'transformer', the model is 'informer'"
    ):
        load_adapter(zoo.create_model("informer", **SMALL_FORECAST), directory)
    assert base_fingerprint(net) == document["zoo"]["base_model_sha256"]


def test_peft_loads_our_linear_and_conv1d_adapter(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")

    class Small(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 6, 3, padding=1)
            self.proj = nn.Linear(6, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.relu(self.proj(self.conv(x).transpose(1, 2))))

    torch.manual_seed(0)
    base = Small().eval()
    ours = Small().eval()
    ours.load_state_dict(base.state_dict())
    ours.lora_target_modules = ["conv", "proj"]
    get_lora_model(ours, LoraConfig(r=2, lora_alpha=4, init_lora_weights=False, modules_to_save=["head"]))
    with torch.no_grad():
        ours.head.modules_to_save["default"].bias.add_(1.0)
    directory = save_adapter(ours, tmp_path / "adapter")
    assert json.loads((directory / ADAPTER_CONFIG).read_text())["zoo"]["architecture"].endswith("Small")
    with (
        warnings.catch_warnings()
    ):  # PEFT notes the extra "zoo" section of adapter_config.json and ignores it
        warnings.simplefilter("ignore")
        theirs = peft.PeftModel.from_pretrained(base, str(directory))
    x = torch.randn(2, 3, 7)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-6)


def test_recurrent_adapter_round_trip_uses_the_matrix_names(tmp_path: Path) -> None:
    net = _trained("lstm")
    directory = save_adapter(net, tmp_path / "lstm-adapter")
    from safetensors.torch import load_file

    keys = set(load_file(str(directory / "adapter_model.safetensors")))
    assert (
        "base_model.model.encoder.lora_A.weight_hh_l0" in keys
        and "base_model.model.head.lora_B.weight" in keys
    )
    assert json.loads((directory / ADAPTER_CONFIG).read_text())["zoo"]["recurrent_targets"] == ["encoder"]
    fresh = zoo.create_model("lstm", **SMALL_FORECAST).eval()
    fresh.load_state_dict(base_state_dict(net))
    load_adapter(fresh, directory)
    x = torch.randn(2, 16, 3)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), net(x), rtol=0, atol=0)


def test_a_probabilistic_model_trains_its_distribution_head_beside_the_adapters(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = zoo.create_model("tcn", **SMALL_FORECAST, distribution="student_t").eval()
    get_lora_model(net, LoraConfig(r=4, init_lora_weights=False))
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert any(n.startswith("distribution_head.modules_to_save.default.") for n in trainable)
    assert all(".lora_" in n or ".modules_to_save." in n for n in trainable)
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if ".modules_to_save." in name:
                parameter.add_(0.1)
    directory = save_adapter(net, tmp_path / "adapter")
    assert json.loads((directory / ADAPTER_CONFIG).read_text())["modules_to_save"] == ["distribution_head"]
    fresh = zoo.create_model("tcn", **SMALL_FORECAST, distribution="student_t").eval()
    fresh.load_state_dict(base_state_dict(net))
    load_adapter(fresh, directory)
    x = torch.randn(2, 16, 3)
    with torch.no_grad():
        expected, loaded = net.predict_distribution(x), fresh.predict_distribution(x)
        torch.testing.assert_close(
            loaded.quantiles([0.1, 0.9]), expected.quantiles([0.1, 0.9]), rtol=1e-6, atol=1e-6
        )
    frozen = zoo.create_model("tcn", **SMALL_FORECAST, distribution="student_t")
    get_lora_model(frozen, LoraConfig(r=4, modules_to_save=[]))
    assert not any(p.requires_grad for n, p in frozen.named_parameters() if n.startswith("distribution_head"))
    point = zoo.create_model("tcn", **SMALL_FORECAST)
    get_lora_model(point, LoraConfig(r=4))
    assert not any(".modules_to_save." in n for n, _ in point.named_parameters())
