"""The model registry: shapes, exact parameter and FLOP counts, errors, seeding, torch.func."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, stack_module_state

from fmlpipe.errors import ParamsError
from fmlpipe.models.flops import flops_per_sample
from fmlpipe.models.registry import MODELS, build_model

MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize(("shape", "classes"), [(MNIST, 10), (CIFAR, 100)])
def test_builds_and_outputs_logits(name: str, shape: tuple[int, int, int], classes: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, shape, classes)
    out = model(torch.rand(4, *shape))
    assert out.shape == (4, classes)
    assert out.dtype == torch.float32


def test_cnn_same_parameter_count_matches_fedavg_paper() -> None:
    expected = (
        (32 * 1 * 25 + 32)  # conv1
        + (64 * 32 * 25 + 64)  # conv2
        + (64 * 7 * 7 * 512 + 512)  # fc1
        + (512 * 10 + 10)  # head
    )
    model = build_model("cnn_same", MNIST, 10)
    assert sum(p.numel() for p in model.parameters()) == expected == 1_663_370


def test_cnn_parameter_count_unpadded() -> None:
    expected = (32 * 1 * 25 + 32) + (64 * 32 * 25 + 64) + (64 * 4 * 4 * 512 + 512) + (512 * 10 + 10)
    assert sum(p.numel() for p in build_model("cnn", MNIST, 10).parameters()) == expected == 582_026


def test_cnn_flops_hand_computed() -> None:
    same = (
        28 * 28 * 32 * (1 * 25)  # conv1, padded: 28x28 outputs
        + 14 * 14 * 64 * (32 * 25)  # conv2 after the first pool
        + (64 * 7 * 7) * 512  # fc1
        + 512 * 10  # head
    )
    assert flops_per_sample(build_model("cnn_same", MNIST, 10), MNIST) == 2 * same == 24_546_304
    valid = 24 * 24 * 32 * 25 + 8 * 8 * 64 * (32 * 25) + (64 * 4 * 4) * 512 + 512 * 10
    assert flops_per_sample(build_model("cnn", MNIST, 10), MNIST) == 2 * valid == 8_534_016


def test_flops_leaves_mode_and_hooks_unchanged() -> None:
    model = build_model("resnet8", CIFAR, 10)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flops_per_sample(model, CIFAR)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_unknown_name_names_key_value_and_allowed() -> None:
    with pytest.raises(ParamsError) as err:
        build_model("foo", MNIST, 10, key="models.global")
    assert str(err.value) == (
        "models.global='foo' is not a known model (allowed: cnn, cnn_same, lenet5, mlp, resnet8)"
    )


@pytest.mark.parametrize(("name", "shape"), [("cnn", (1, 15, 28)), ("cnn_same", (1, 3, 3)), ("lenet5", (1, 11, 28))])
def test_too_small_input_names_model_and_shape(name: str, shape: tuple[int, int, int]) -> None:
    with pytest.raises(ParamsError) as err:
        build_model(name, shape, 10, key="models.local")
    assert str(err.value).startswith(f"models.local={name!r} cannot take input shape {shape}: ")


@pytest.mark.parametrize(("name", "shape"), [("cnn", (1, 16, 16)), ("cnn_same", (1, 4, 4)), ("lenet5", (1, 12, 12))])
def test_smallest_input_that_fits(name: str, shape: tuple[int, int, int]) -> None:
    assert build_model(name, shape, 10)(torch.rand(2, *shape)).shape == (2, 10)


def test_bad_shape_or_classes() -> None:
    with pytest.raises(ParamsError, match="input shape"):
        build_model("mlp", (28, 28), 10)  # type: ignore[arg-type]
    with pytest.raises(ParamsError, match="0 classes"):
        build_model("mlp", MNIST, 0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_head_prefix_selects_exactly_the_output_layer(name: str) -> None:
    model = build_model(name, CIFAR, 100)
    prefix = MODELS[name].head_prefix
    head = {k: v.shape for k, v in model.state_dict().items() if k.startswith(prefix)}
    assert head == {f"{prefix}weight": (100, model.head.in_features), f"{prefix}bias": (100,)}
    assert len(head) < len(model.state_dict())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_init_is_determined_by_manual_seed(name: str) -> None:
    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_model(name, MNIST, 10).state_dict()

    a, b, c = state(1), state(1), state(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_no_dropout_anywhere() -> None:
    for name in MODELS:
        modules = build_model(name, CIFAR, 10).modules()
        assert not any(isinstance(m, torch.nn.modules.dropout._DropoutNd) for m in modules)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_vmap_over_stacked_copies_matches_separate_forwards(name: str) -> None:
    torch.manual_seed(0)
    models = [build_model(name, CIFAR, 10) for _ in range(3)]
    x = torch.rand(5, *CIFAR)
    for model in models:
        model.train()
        model(x)  # move BatchNorm running statistics off their initial values
        model.eval()
    params, buffers = stack_module_state(models)
    base = build_model(name, CIFAR, 10).to("meta").eval()

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    with torch.no_grad():
        stacked = torch.vmap(forward)(params, buffers)
        separate = torch.stack([m(x) for m in models])
    assert stacked.shape == (3, 5, 10)
    torch.testing.assert_close(stacked, separate, atol=1e-6, rtol=0)
