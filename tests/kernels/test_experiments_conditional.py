"""FiLM, conditional BatchNorm, AdaIN and both readings of "Group Instance Normalization" against
torch formulations (torch.nn.functional, nn.BatchNorm2d + nn.Embedding, the AdaIN authors'
calc_mean_std)."""

import numpy as np
import pytest

from kernels import normalize
from kernels.experiments import adain, conditional_batch_norm, film, film_parameters, group_instance_norm

from .references import F, torch

pytestmark = pytest.mark.torch
RNG = np.random.default_rng(3)
X = RNG.standard_normal((6, 4, 3, 5)) * 2.0 + 1.0
T = torch.from_numpy(X)


def test_film_is_a_per_sample_channel_affine_from_a_linear_map():
    cond = RNG.standard_normal((6, 7))
    linear = torch.nn.Linear(7, 8).double()
    gamma, beta = film_parameters(cond, linear.weight.detach().numpy(), linear.bias.detach().numpy())
    tg, tb = linear(torch.from_numpy(cond)).chunk(2, dim=1)
    np.testing.assert_allclose(gamma, tg.detach().numpy(), rtol=1e-12)
    res = film(X, gamma, beta)
    ref = T * tg[:, :, None, None] + tb[:, :, None, None]
    np.testing.assert_allclose(res.output, ref.detach().numpy(), rtol=1e-12)
    assert res.mean is None  # FiLM computes no statistics
    g1, _ = film_parameters(cond, linear.weight.detach().numpy(), plus_one=True)
    np.testing.assert_allclose(g1 - 1.0, gamma - linear.bias.detach().numpy()[:4], rtol=1e-10, atol=1e-12)
    nhwc = film(X.transpose(0, 2, 3, 1), gamma, beta, layout="NHWC").output
    np.testing.assert_allclose(nhwc, res.output.transpose(0, 2, 3, 1), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_conditional_batchnorm_is_batchnorm_with_embedded_affine(training):
    labels = np.array([0, 2, 1, 2, 0, 1])
    gamma_table, beta_table = torch.nn.Embedding(3, 4).double(), torch.nn.Embedding(3, 4).double()
    rm, rv = RNG.standard_normal(4), RNG.uniform(0.5, 2.0, 4)
    bn = torch.nn.BatchNorm2d(4, affine=False, momentum=0.2).double()
    bn.running_mean.copy_(torch.from_numpy(rm))
    bn.running_var.copy_(torch.from_numpy(rv))
    bn.train(training)
    lab = torch.from_numpy(labels)
    ref = bn(T) * gamma_table(lab)[:, :, None, None] + beta_table(lab)[:, :, None, None]
    res = conditional_batch_norm(X, labels, gamma_table.weight.detach().numpy(), beta_table.weight.detach().numpy(),
                                 training=training, running_mean=rm, running_var=rv, momentum=0.2)
    np.testing.assert_allclose(res.output, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    if training:
        np.testing.assert_allclose(res.running_mean, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(res.running_var, bn.running_var.numpy(), rtol=1e-12)


def test_adain_paper_formula_and_the_authors_code():
    style = RNG.standard_normal((6, 4, 7, 2)) * 3.0 - 2.0  # other spatial size
    s = torch.from_numpy(style)
    res = adain(X, style)
    var, mean = torch.var_mean(s, dim=(2, 3), unbiased=False)
    ref = F.instance_norm(T, eps=1e-5) * (var + 1e-5).sqrt()[:, :, None, None] + mean[:, :, None, None]
    np.testing.assert_allclose(res.output, ref.numpy(), rtol=1e-10, atol=1e-12)

    def calc_mean_std(feat, eps=1e-5):  # AdaIN's released code (naoto0804/pytorch-AdaIN, function.py)
        n, c = feat.shape[:2]
        feat_var = feat.view(n, c, -1).var(dim=2) + eps
        return feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), feat_var.sqrt().view(n, c, 1, 1)

    sm, ss = calc_mean_std(s)
    cm, cs = calc_mean_std(T)
    official = (T - cm) / cs * ss + sm
    np.testing.assert_allclose(adain(X, style, unbiased=True).output, official.numpy(), rtol=1e-10, atol=1e-12)
    out = res.output.reshape(6, 4, -1)
    np.testing.assert_allclose(out.mean(axis=2), mean.numpy(), atol=1e-12)  # the style's statistics


def test_group_instance_norm_reading_channels_is_groupnorm():
    for groups in (1, 2, 4):
        res = group_instance_norm(X, groups, reading="channels")
        np.testing.assert_allclose(res.output, F.group_norm(T, groups, eps=1e-5).numpy(), rtol=1e-10, atol=1e-12)
        assert res.mean.shape == (6, groups)
    np.testing.assert_allclose(group_instance_norm(X, 4).output, F.instance_norm(T, eps=1e-5).numpy(), rtol=1e-10,
                               atol=1e-12)


def test_group_instance_norm_reading_samples_is_batchnorm_per_group_of_samples():
    for groups in (1, 2, 3, 6):
        res = group_instance_norm(X, groups, reading="samples")
        ref = torch.cat([F.batch_norm(chunk, None, None, training=True, eps=1e-5) for chunk in T.split(6 // groups)])
        np.testing.assert_allclose(res.output, ref.numpy(), rtol=1e-10, atol=1e-12)
        ghost = normalize(X, "ghost_batch", virtual_batch=6 // groups).output
        np.testing.assert_allclose(res.output, ghost, rtol=1e-10, atol=1e-12)
        assert res.var.shape == (groups, 4)
    ends = (group_instance_norm(X, 6, reading="samples").output, group_instance_norm(X, 1, reading="samples").output)
    np.testing.assert_allclose(ends[0], F.instance_norm(T, eps=1e-5).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ends[1], F.batch_norm(T, None, None, training=True).numpy(), rtol=1e-10, atol=1e-12)
    nlc = group_instance_norm(X.reshape(6, 4, 15).transpose(0, 2, 1), 3, layout="NLC", reading="samples").output
    np.testing.assert_allclose(nlc.transpose(0, 2, 1).reshape(X.shape), group_instance_norm(X, 3, reading="samples")
                               .output, rtol=1e-12)


BAD = [
    (lambda: film(X, np.ones((5, 4)), np.zeros(4)), "gamma must be finite with shape (N, C) = (6, 4)"),
    (lambda: film_parameters(np.ones((6, 7)), np.ones((7, 7))), "do not fit"),
    (lambda: conditional_batch_norm(X, np.zeros(6, int), np.ones((2, 4)), np.ones((2, 4))[:, :3]), "beta_table"),
    (lambda: conditional_batch_norm(X, np.arange(6), np.ones((3, 4)), np.ones((3, 4))), "labels must lie in 0..2"),
    (lambda: conditional_batch_norm(X, np.zeros(6), np.ones((3, 4)), np.ones((3, 4))), "labels must be 6 integers"),
    (lambda: adain(X, np.ones((5, 4, 2, 2))), "style has N, C"),
    (lambda: adain(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), eps=0), "constant and eps=0"),
    (lambda: group_instance_norm(X, 3), "groups=3 must divide C=4"),
    (lambda: group_instance_norm(X, 4, reading="samples"), "groups=4 must divide N=6"),
    (lambda: group_instance_norm(X, 2, reading="pixels"), "unknown reading 'pixels'"),
    (lambda: group_instance_norm(X, 0), "groups=0"),
]


@pytest.mark.parametrize("call, words", BAD)
def test_bad_arguments_raise_one_line_value_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value)
