"""AdaIN, conditional BatchNorm and Group Instance Norm (the samples reading) as registry
methods, each against a torch formulation on both backends and several layouts."""

import numpy as np
import pytest

from kernels import METHODS, NormError, normalize

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(3)
X = RNG.normal(1.5, 2.0, size=(6, 4, 5, 3)).astype(np.float32)
BACKENDS = ["numpy", "torch"]


def _in_layout(x, layout):
    return np.ascontiguousarray(np.transpose(x, ["NCHW".index(a) for a in layout]))


def _back(y, layout):
    y = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
    return np.transpose(y, [layout.index(a) for a in "NCHW"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "CNHW"])
@pytest.mark.parametrize("style", ["scalar", "channel", "sample_channel"])
def test_adain_is_instance_norm_with_the_styles_statistics(backend, layout, style):
    s = torch.from_numpy(RNG.normal(-1, 3, size=(6, 4, 7, 7)).astype(np.float32))
    var_s, mean_s = torch.var_mean(s, dim=(2, 3), unbiased=False)
    std_s = (var_s + 1e-5).sqrt()
    if style == "scalar":
        mean_s, std_s = mean_s[0, 0], std_s[0, 0]
        given = dict(style_mean=float(mean_s), style_std=float(std_s))
        view = ()
    elif style == "channel":
        mean_s, std_s = mean_s[0], std_s[0]
        given = dict(style_mean=mean_s.numpy(), style_std=std_s.numpy())
        view = (1, 4, 1, 1)
    else:
        given = dict(style_mean=mean_s.numpy(), style_std=std_s.numpy())
        view = (6, 4, 1, 1)
    expected = F.instance_norm(torch.from_numpy(X)) * std_s.reshape(view) + mean_s.reshape(view)
    res = normalize(_in_layout(X, layout), "adain", layout=layout, backend=backend, **given)
    np.testing.assert_allclose(_back(res.output, layout), expected.numpy(), rtol=1e-5, atol=2e-5)


def test_adain_refuses_a_style_of_the_wrong_shape():
    with pytest.raises(NormError, match=r"style_std of shape \(4, 6\) needs"):
        normalize(X, "adain", style_std=np.ones((4, 6)))


def _conditional_reference(x, labels, gamma, beta, module):
    emb_g, emb_b = torch.nn.Embedding.from_pretrained(torch.tensor(gamma, dtype=torch.float32)), \
        torch.nn.Embedding.from_pretrained(torch.tensor(beta, dtype=torch.float32))
    lab = torch.tensor(labels)
    y = module(torch.from_numpy(x))
    return (y * emb_g(lab)[..., None, None] + emb_b(lab)[..., None, None]).detach().numpy()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conditional_batchnorm_equals_batchnorm_and_embeddings_in_training_and_eval(backend, layout):
    labels = np.array([2, 0, 1, 1, 0, 2])
    gamma, beta = RNG.normal(1, 0.5, size=(3, 4)), RNG.normal(0, 1, size=(3, 4))
    module = torch.nn.BatchNorm2d(4, affine=False, momentum=0.2)
    expected = _conditional_reference(X, labels, gamma, beta, module)
    res = normalize(_in_layout(X, layout), "conditional_batch", layout=layout, backend=backend, labels=labels,
                    gamma_table=gamma, beta_table=beta, momentum=0.2, running_mean=np.zeros(4),
                    running_var=np.ones(4))
    np.testing.assert_allclose(_back(res.output, layout), expected, rtol=1e-5, atol=2e-5)
    running_mean = np.asarray(res.running_mean.cpu() if backend == "torch" else res.running_mean)
    np.testing.assert_allclose(running_mean, module.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    module.eval()
    expected = _conditional_reference(X, labels, gamma, beta, module)
    res = normalize(_in_layout(X, layout), "conditional_batch", layout=layout, backend=backend, training=False,
                    labels=labels, gamma_table=gamma, beta_table=beta, running_mean=module.running_mean.numpy(),
                    running_var=module.running_var.numpy())
    np.testing.assert_allclose(_back(res.output, layout), expected, rtol=1e-5, atol=2e-5)


def test_conditional_batchnorm_defaults_are_two_classes_and_labels_are_checked():
    expected = _conditional_reference(X, [0, 1, 0, 1, 0, 1], [[1.0] * 4, [2.0] * 4], [[0.0] * 4, [1.0] * 4],
                                      torch.nn.BatchNorm2d(4, affine=False))
    np.testing.assert_allclose(normalize(X, "conditional_batch").output, expected, rtol=1e-5, atol=2e-5)
    with pytest.raises(NormError, match="labels must lie in 0 … 1"):
        normalize(X, "conditional_batch", labels=np.array([0, 1, 2, 0, 1, 0]))
    with pytest.raises(NormError, match="one integer class per sample"):
        normalize(X, "conditional_batch", labels=np.array([0, 1]))
    with pytest.raises(NormError, match="gamma_table needs one row per class"):
        normalize(X, "conditional_batch", gamma_table=np.ones((2, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_group_instance_norm_samples_reading_is_batchnorm_per_group_of_samples(backend, groups):
    chunk = 6 // groups
    expected = torch.cat([F.batch_norm(part, None, None, training=True) for part in torch.from_numpy(X).split(chunk)])
    for training in (True, False):  # no running statistics: eval computes the same
        res = normalize(X, "sample_group", backend=backend, training=training, sample_groups=groups)
        np.testing.assert_allclose(_back(res.output, "NCHW"), expected.numpy(), rtol=1e-5, atol=2e-5)
    if groups == 6:  # one sample per group: InstanceNorm
        np.testing.assert_allclose(expected.numpy(), F.instance_norm(torch.from_numpy(X)).numpy(), rtol=1e-5,
                                   atol=2e-5)
    ghost = normalize(X, "ghost_batch", virtual_batch=chunk)
    np.testing.assert_allclose(normalize(X, "sample_group", sample_groups=groups).output, ghost.output, atol=1e-6)


def test_group_instance_norm_needs_n_divisible():
    with pytest.raises(NormError, match="N=6 is not divisible by sample_groups=4"):
        normalize(X, "sample_group", sample_groups=4)


def test_film_is_not_a_registry_method_and_the_reason_is_written():
    assert "film" not in METHODS
    assert any("FiLM" in p for p in METHODS["conditional_batch"].pitfalls)
