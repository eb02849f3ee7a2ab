"""Transformer norm placement: post-LN and pre-LN blocks against torch.nn.TransformerEncoderLayer
with the same weights, the other placements against their formulas, DeepNorm's initialization,
and the shape of Xiong et al. 2020 at initialization."""

import numpy as np
import pytest

from kernels.experiments import Cancelled, TransformerConfig, run_transformer
from kernels.experiments.transformer import _modules, build_stack, schedule

from .references import F, torch

pytestmark = pytest.mark.torch
SMALL = TransformerConfig(layers=2, width=8, heads=2, mlp_ratio=2, tokens=5, samples=3, vocab=6, train_steps=0)


def _block(placement, cfg=SMALL):
    torch.manual_seed(0)
    block = _modules()["Block"](cfg, placement).double()
    for p in block.parameters():  # non-trivial norm weights and biases too
        torch.nn.init.normal_(p, std=0.5)
    return block


@pytest.mark.parametrize("placement, norm_first", [("post", False), ("pre", True)])
def test_post_and_pre_blocks_equal_torch_encoder_layers(placement, norm_first):
    block = _block(placement)
    layer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=norm_first).double().eval()
    attn, mlp = block.sublayers
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(attn.in_proj.weight)
        layer.self_attn.in_proj_bias.copy_(attn.in_proj.bias)
        layer.self_attn.out_proj.weight.copy_(attn.out_proj.weight)
        layer.self_attn.out_proj.bias.copy_(attn.out_proj.bias)
        for ours, theirs in ((mlp.linear1, layer.linear1), (mlp.linear2, layer.linear2),
                             (block.norms[0][0], layer.norm1), (block.norms[1][0], layer.norm2)):
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    np.testing.assert_allclose(block(x).detach().numpy(), layer(x).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_the_other_placements_follow_their_formulas():
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    mlp_cfg = TransformerConfig(**{**SMALL.__dict__, "block": "mlp", "layers": 4})
    rms, sandwich, deep, none = (_block(p, mlp_cfg) for p in ("rms_pre", "sandwich", "deepnorm", "none"))
    f = rms.sublayers[0]
    ref = x + f(F.rms_norm(x, (8,), rms.norms[0][0].weight, eps=1e-5))
    np.testing.assert_allclose(rms(x).detach().numpy(), ref.detach().numpy(), rtol=1e-10)
    n1, n2 = sandwich.norms[0]
    ref = x + n2(sandwich.sublayers[0](n1(x)))
    np.testing.assert_allclose(sandwich(x).detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    assert deep.alpha == pytest.approx(8 ** 0.25)  # (2 · layers)^¼ with 4 layers
    ref = deep.norms[0][0](8 ** 0.25 * x + deep.sublayers[0](x))
    np.testing.assert_allclose(deep(x).detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(none(x).detach().numpy(), (x + none.sublayers[0](x)).detach().numpy(), rtol=1e-12)
    module = _modules()["RMSNorm"](8, 1e-5).double()
    np.testing.assert_allclose(module(x).detach().numpy(), torch.nn.RMSNorm(8, eps=1e-5).double()(x).detach().numpy(),
                               rtol=1e-12)


def test_deepnorm_scales_the_initialization_by_beta():
    cfg = TransformerConfig(layers=12, width=64, heads=4)
    torch.manual_seed(0)
    deep, plain = build_stack(cfg, "deepnorm"), build_stack(cfg, "post")
    beta = (8 * 12) ** -0.25
    def std(model, name, rows):
        with torch.no_grad():
            return float(torch.cat([getattr(b.sublayers[0], name).weight[rows].flatten() for b in model.blocks]).std())

    for name, rows in (("out_proj", slice(None)), ("in_proj", slice(128, 192))):  # output and v projections
        assert std(deep, name, rows) / std(plain, name, rows) == pytest.approx(beta, rel=0.05)
        assert std(plain, name, rows) == pytest.approx((2 / 128) ** 0.5, rel=0.05)  # Xavier for a C×C matrix
    assert std(deep, "in_proj", slice(0, 64)) / std(plain, "in_proj", slice(0, 64)) == pytest.approx(1.0, rel=0.05)


def test_at_initialization_post_ln_has_the_larger_gradients_near_the_output():
    cfg = TransformerConfig(layers=6, width=32, heads=4, tokens=8, samples=32, train_steps=0, inits=2,
                            placements=("post", "pre", "none"))
    res = run_transformer(cfg)
    post, pre = res.grad_norm["post"], res.grad_norm["pre"]
    assert post[-1] > 2 * pre[-1]  # Xiong et al. 2020: post-LN's last layers get the large gradients
    assert pre[-1] < pre[0]  # pre-LN: smaller toward the output (the stream grows, each LN divides by it)
    np.testing.assert_allclose(res.stream_norm["post"][1:], np.sqrt(32), rtol=1e-3)  # every block ends with LN
    assert np.all(np.diff(res.stream_norm["pre"]) > 0) and res.stream_norm["none"][-1] > res.stream_norm["pre"][-1]
    assert res.loss["post"] == {} or all(len(v) == 0 for v in res.loss["post"].values())


def test_training_steps_are_reproducible_and_follow_the_schedule():
    cfg = TransformerConfig(**{**SMALL.__dict__, "train_steps": 6, "warmup_steps": 3, "lr": 0.01,
                               "placements": ("pre",), "eval_samples": 8})
    a, b = run_transformer(cfg), run_transformer(cfg)
    for mode in ("constant", "warmup"):
        np.testing.assert_array_equal(a.loss["pre"][mode], b.loss["pre"][mode])
        assert np.all(np.isfinite(a.loss["pre"][mode])) and 0 <= a.final_accuracy["pre"][mode] <= 1
    np.testing.assert_allclose(schedule(cfg, "warmup"), [0.01 / 3, 0.02 / 3, 0.01, 0.01, 0.01, 0.01])
    assert a.loss["pre"]["constant"][0] == a.loss["pre"]["warmup"][0]  # same initial weights and first batch
    assert a.task == "reverse"
    seen = []
    with pytest.raises(Cancelled):
        run_transformer(cfg, progress=lambda d, t: seen.append(d), cancelled=lambda: len(seen) >= 1)


@pytest.mark.parametrize("kw, words", [
    (dict(placements=("middle",)), "unknown placement 'middle'"),
    (dict(heads=3), "heads=3 must divide width=32"),
    (dict(block="mlp", task="reverse"), "needs attention"),
    (dict(warmups=("cosine",)), "unknown warm-up mode"),
    (dict(layers=0), "layers=0"),
])
def test_bad_configs_raise_one_line_value_errors(kw, words):
    with pytest.raises(ValueError) as info:
        run_transformer(TransformerConfig(**kw))
    assert words in str(info.value) and "\n" not in str(info.value)
