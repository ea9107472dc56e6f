# ruff: noqa: E501  (the log lines below are oneDNN's own, whole)
"""``benchmarks/step_kernels.py`` reads oneDNN's verbose log: the kernels it names, and which of
the cnn's convolutions each one ran, from real log lines."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
import torch

from fmlpipe.models.cnn import FedAvgCNN

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# oneDNN 3.12's lines (PyTorch 2.14), as the benchmark read them from one cnn step at batch 64,
# with an info line and a 2.x-style line (no "v1,primitive") around them.
LOG = """\
onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support
onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:bf16::blocked:acdb::f0 dst:bf16::blocked:BcdA32b2a::f0,attr-scratchpad:user,,64x32x5x5,0.0378418
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_bwd:avx512_core_bf16+brg_conv_fwd:avx512_core_bf16,backward_data,src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:BcdA32b2a::f0 bia:undef::undef::: dst:bf16::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,mb64_ic32oc64_ih12oh8kh5sh1dh0ph0_iw12ow8kw5sw1dw0pw0,2.73389
onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16:avx512_core_bf16,backward_weights,src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:Acdb16a::f0 bia:bf16:a:blocked:a::f0 dst:bf16::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,mb64_ic1oc32_ih28oh24kh5sh1dh0ph0_iw28ow24kw5sw1dw0pw0,0.632812
onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core_bf16,undef,src:bf16::blocked:ab::f0 wei:bf16::blocked:ab::f0 dst:bf16::blocked:ab::f0,attr-scratchpad:user,,64x512:512x1024,0.535889
onednn_verbose,exec,cpu,convolution,jit:avx512_core,forward_training,src_f32::blocked:abcd:f0 wei_f32::blocked:Acdb16a:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd16b:f0,,alg:convolution_direct,mb4_ic1oc32_ih28oh24kh5sh1dh0ph0_iw28ow24kw5sw1dw0pw0,0.125
onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,jit:avx512_core,forward_training,,,alg:convolution_direct,mb4_ic1oc32_ih28oh24kh5sh1dh0ph0_iw28ow24kw5sw1dw0pw0,0.5
a line of the program's own output, exec, 1.0
"""


@pytest.fixture
def step_kernels(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports bf16_step beside it
    return importlib.import_module("step_kernels")


def test_reads_the_exec_lines_only(step_kernels: ModuleType) -> None:
    kernels = step_kernels.parse_verbose(LOG)
    assert [(k.primitive, k.propagation, k.ms) for k in kernels] == [
        ("reorder", "undef", 0.0378418),
        ("convolution", "backward_data", 2.73389),
        ("convolution", "backward_weights", 0.632812),
        ("matmul", "undef", 0.535889),
        ("convolution", "forward_training", 0.125),
    ]


def test_puts_each_convolution_kernel_to_its_layer_and_pass(step_kernels: ModuleType) -> None:
    convs = {"conv1": (model := FedAvgCNN((1, 28, 28), 10)).conv1, "conv2": model.conv2}
    kernels = step_kernels.parse_verbose(LOG)
    assert step_kernels.conv_ms(kernels, convs, 2) == pytest.approx({
        ("conv2", "input gradient"): 2.73389 / 2,
        ("conv1", "weight gradient"): 0.632812 / 2,
        ("conv1", "forward"): 0.125 / 2,
    })
    assert step_kernels.reorder_ms(kernels, 2) == pytest.approx(0.0378418 / 2)
    assert step_kernels.conv_layer("mb64_ic3oc32_ih28oh24kh5sh1dh0ph0_iw28ow24kw5sw1dw0pw0", convs) is None


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")
def test_captures_what_onednn_logs_while_a_convolution_runs(step_kernels: ModuleType) -> None:
    conv = torch.nn.Conv2d(1, 32, 5)
    x = torch.rand(4, 1, 28, 28)

    def forward() -> None:
        with torch.no_grad():
            conv(x)

    text = step_kernels.logged(forward)
    ran = [k for k in step_kernels.parse_verbose(text) if k.primitive == "convolution"]
    assert ran and all(step_kernels.conv_layer(k.problem, {"conv": conv}) == "conv" for k in ran)
