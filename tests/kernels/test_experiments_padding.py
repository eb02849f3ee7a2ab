"""Padded sequences: masked BatchNorm against BatchNorm on torch's packed sequence, unmasked against
nn.BatchNorm1d over the padded batch, LayerNorm over C (untouched by padding) and over (L, C)
against F.layer_norm, and the closed-form padding bias against the data."""

import numpy as np
import pytest

from kernels.experiments import PaddingConfig, run_padding
from kernels.experiments.padding import make_batch, padding_bias

from .references import F, torch

pytestmark = pytest.mark.torch
CFG = PaddingConfig(samples=6, max_length=9, channels=3, seed=4, pad_value=-1.0)


@pytest.fixture(scope="module")
def res():
    return run_padding(CFG)


def test_masked_batchnorm_equals_batchnorm_on_the_packed_sequence(res):
    x, lengths = torch.from_numpy(res.x), torch.from_numpy(res.lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    bn = torch.nn.BatchNorm1d(3, affine=False, momentum=0.1).double()
    y = bn(packed.data)
    back, _ = torch.nn.utils.rnn.pad_packed_sequence(packed._replace(data=y), batch_first=True,
                                                     total_length=CFG.max_length)
    np.testing.assert_allclose(res.batch.output_masked, back.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.batch.running_mean_masked, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.batch.running_var_masked, bn.running_var.numpy(), rtol=1e-12)
    var, mean = torch.var_mean(packed.data, dim=0, unbiased=False)
    np.testing.assert_allclose(res.batch.mean_masked, mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.batch.var_masked, var.numpy(), rtol=1e-12)


def test_unmasked_batchnorm_is_batchnorm1d_over_the_padded_batch(res):
    bn = torch.nn.BatchNorm1d(3, affine=False, momentum=0.1).double()
    y = bn(torch.from_numpy(res.x).transpose(1, 2)).transpose(1, 2)
    np.testing.assert_allclose(res.batch.output_unmasked, y.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.batch.running_var_unmasked, bn.running_var.numpy(), rtol=1e-12)
    assert res.batch.max_change > 0.1  # padding changed every real token's output


def test_the_padding_bias_formula_is_exact(res):
    f = 1.0 - res.mask.mean()
    assert res.pad_fraction == pytest.approx(f)
    mean, var = padding_bias(res.batch.mean_masked, res.batch.var_masked, CFG.pad_value, f)
    np.testing.assert_allclose(res.batch.mean_unmasked, mean, rtol=1e-12)
    np.testing.assert_allclose(res.batch.var_unmasked, var, rtol=1e-12)
    assert res.bias_mean[0] == pytest.approx(res.true_mean[0]) and res.fraction[-1] == pytest.approx(0.9)


def test_layernorm_over_channels_ignores_padding_and_over_the_sequence_does_not(res):
    x = torch.from_numpy(res.x)
    np.testing.assert_allclose(res.token_layer.output_unmasked, F.layer_norm(x, (3,), eps=1e-5).numpy(), rtol=1e-10,
                               atol=1e-12)
    assert res.token_layer.max_change == 0.0
    longer = torch.cat([x, torch.full((6, 5, 3), 7.0, dtype=x.dtype)], dim=1)  # more padding, another pad value
    real = res.mask[..., None]
    np.testing.assert_allclose(np.where(real, F.layer_norm(longer, (3,), eps=1e-5)[:, :9].numpy(), 0),
                               np.where(real, res.token_layer.output_unmasked, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.sequence_layer.output_unmasked, F.layer_norm(x, (9, 3), eps=1e-5).numpy(),
                               rtol=1e-10, atol=1e-12)
    for i, n in enumerate(res.lengths):
        alone = F.layer_norm(x[i, :n], (int(n), 3), eps=1e-5).numpy()
        np.testing.assert_allclose(res.sequence_layer.output_masked[i, :n], alone, rtol=1e-10, atol=1e-12)
    short = int(np.argmin(res.lengths))
    assert res.lengths[short] < CFG.max_length and res.sequence_layer.max_change > 0.1


def test_batches_are_reproducible_and_lengths_respected():
    x, mask, lengths, _, _ = make_batch(CFG)
    x2, *_ = make_batch(CFG)
    np.testing.assert_array_equal(x, x2)
    assert lengths[0] == CFG.max_length and mask.sum(axis=1).tolist() == lengths.tolist()
    assert np.all(x[~mask] == CFG.pad_value)


@pytest.mark.parametrize("kw, words", [
    (dict(lengths=(3, 4)), "lengths has 2 entries for samples=8"),
    (dict(lengths=(0,) * 8), "length=0"),
    (dict(min_length=20), "min_length=20 must be between 1 and 16"),
    (dict(std=0.0), "std=0 must be positive"),
])
def test_bad_configs_raise_one_line_value_errors(kw, words):
    with pytest.raises(ValueError) as info:
        run_padding(PaddingConfig(**kw))
    assert words in str(info.value) and "\n" not in str(info.value)
