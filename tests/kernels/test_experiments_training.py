"""The digits experiment: its normalization modules against kernels.normalize and torch, tiny training
runs (curves, reproducibility, train vs eval mode, saving), sweeps with a cache that survives
cancellation, fine-tuning modes and a batch size changed mid-training."""

import numpy as np
import pytest

from kernels import normalize
from kernels.experiments import (
    Cancelled,
    FinetuneConfig,
    SweepConfig,
    TrainConfig,
    load_model,
    run_finetune,
    run_sweep,
    run_training,
    save_model,
)
from kernels.experiments.training import _evaluate, build_model, digits, make_norm, steps_of

from .references import F, torch

pytestmark = pytest.mark.torch
pytest.importorskip("sklearn")
TINY = TrainConfig(norm="batch", batch_size=16, epochs=2, width=4, groups=2, train_size=64, lr=0.2)


def test_digits_split_and_shifts():
    x, y = digits()
    xv, yv = digits(split="validation")
    assert x.shape == (1297, 1, 8, 8) and xv.shape == (500, 1, 8, 8) and x.min() == 0 and x.max() == 1
    np.testing.assert_array_equal(digits("invert")[0], 1 - x)
    np.testing.assert_allclose(digits("brightness", 0.25)[0], x + 0.25)
    assert set(np.unique(yv)) == set(range(10))


def test_batch_renorm_module_matches_kernels():
    x = torch.randn(6, 3, 4, 4, dtype=torch.float64) * 2 + 1
    rm, rv = np.array([0.5, -0.3, 1.0]), np.array([2.0, 0.7, 4.0])
    m = make_norm("batch_renorm", 3, bn_momentum=0.2, rmax=1.5, dmax=0.5).double()
    m.running_mean.copy_(torch.from_numpy(rm))
    m.running_var.copy_(torch.from_numpy(rv))
    y = m(x)
    ref = normalize(x.numpy(), "batch_renorm", running_mean=rm, running_var=rv, momentum=0.2, rmax=1.5, dmax=0.5)
    np.testing.assert_allclose(y.detach().numpy(), ref.output, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.running_mean.numpy(), ref.running_mean, rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), ref.running_var, rtol=1e-12)
    m.eval()
    ev = normalize(x.numpy(), "batch_renorm", training=False, running_mean=ref.running_mean,
                   running_var=ref.running_var)
    np.testing.assert_allclose(m(x).detach().numpy(), ev.output, rtol=1e-10, atol=1e-12)


def test_the_other_norm_modules_match_torch_and_kernels():
    x = torch.randn(5, 4, 3, 3, dtype=torch.float64) * 1.5 + 0.5
    rms = make_norm("rms", 4).double()
    np.testing.assert_allclose(rms(x).detach().numpy(), F.rms_norm(x, (4, 3, 3), eps=1e-5).numpy(), rtol=1e-12)
    frn = make_norm("frn", 4).double()
    ref = normalize(x.numpy(), "frn", eps=1e-6, tau=0.0).output
    np.testing.assert_allclose(frn(x).detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    layer = make_norm("layer", 4).double()
    np.testing.assert_allclose(layer(x).detach().numpy(), F.layer_norm(x, (4, 3, 3), eps=1e-5).numpy(), rtol=1e-10)
    assert isinstance(make_norm("instance", 4), torch.nn.InstanceNorm2d) and make_norm("instance", 4).affine


@pytest.fixture(scope="module")
def tiny():
    return run_training(TINY)


def test_a_tiny_run_has_curves_and_is_reproducible(tiny):
    assert tiny.val_acc.shape == (3,) and tiny.steps.tolist() == [0, 4, 8] and len(tiny.step_loss) == 8
    assert np.isnan(tiny.train_loss[0]) and np.all(np.isfinite(tiny.val_loss))
    assert 0 <= tiny.final_error <= 1 and tiny.final_error == pytest.approx(1 - tiny.val_acc[-1])
    assert tiny.lr[0] == pytest.approx(0.2 * 16 / 32)  # linear scaling, cosine from there
    again = run_training(TINY)
    np.testing.assert_array_equal(again.step_loss, tiny.step_loss)
    other = run_training(TrainConfig(**{**TINY.__dict__, "seed": 1}))
    assert not np.array_equal(other.step_loss, tiny.step_loss)
    model = build_model(TINY)
    model.load_state_dict(tiny.state_dict)
    xv, yv = (torch.from_numpy(a) for a in digits(split="validation"))
    assert _evaluate(torch, model, xv, yv)[1] == pytest.approx(tiny.val_acc[-1])


def test_train_mode_evaluation_uses_batch_statistics_and_keeps_the_running_ones(tiny):
    model = build_model(TINY)
    model.load_state_dict(tiny.state_dict)
    xv, yv = (torch.from_numpy(a) for a in digits(split="validation"))
    before = [b.clone() for b in model.buffers()]
    loss, acc = _evaluate(torch, model, xv, yv, train_mode=True, batch_size=16)
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))
    assert acc == pytest.approx(tiny.val_acc_train_mode[-1]) and acc != tiny.val_acc[-1]
    group = run_training(TrainConfig(**{**TINY.__dict__, "norm": "group", "epochs": 1}))
    np.testing.assert_allclose(group.val_acc, group.val_acc_train_mode)  # no batch statistics: identical


def test_a_saved_model_loads_with_weights_only(tiny, tmp_path):
    path = save_model(tiny, tmp_path / "digits.pt")
    state = torch.load(path, weights_only=True)
    assert set(state) == set(tiny.state_dict) and "1.running_mean" in state
    model = load_model(path, TINY)
    x = torch.from_numpy(digits(split="validation")[0][:5])
    reference = build_model(TINY)
    reference.load_state_dict(tiny.state_dict)
    np.testing.assert_array_equal(model(x).detach().numpy(), reference.eval()(x).detach().numpy())


def test_a_batch_size_changed_mid_training():
    res = run_training(TrainConfig(**{**TINY.__dict__, "epochs": 3, "switch_epoch": 2, "switch_batch_size": 4}))
    assert res.batch_size.tolist() == [16, 16, 4] and res.steps.tolist() == [0, 4, 8, 24]
    assert steps_of(res.config) == 24


def test_sweeps_cache_finished_runs_also_when_cancelled():
    cfg = SweepConfig(norms=("batch", "group"), batch_sizes=(8, 16), lrs=(0.1,), seeds=(0, 1),
                      base=TrainConfig(**{**TINY.__dict__, "epochs": 1}))
    cache, seen = {}, []
    with pytest.raises(Cancelled):
        run_sweep(cfg, cache=cache, progress=lambda d, t: seen.append(d), cancelled=lambda: len(cache) >= 3)
    assert len(cache) == 3
    progress = []
    res = run_sweep(cfg, cache=cache, progress=lambda d, t: progress.append((d, t)))
    assert res.cached == 3 and len(cache) == 8 and progress[-1][0] == progress[-1][1]
    assert res.error.shape == (2, 2, 1, 2) and res.mean_error.shape == (2, 2, 1)
    assert res.run("group", 16, seed=1).config.norm == "group"
    np.testing.assert_array_equal(res.error[1, 1, 0, 1], res.run("group", 16, seed=1).final_error)


def test_finetuning_modes_treat_the_running_statistics_as_named():
    cfg = FinetuneConfig(pretrain=TINY, shift="invert", finetune_epochs=1, finetune_size=32, finetune_lr=0.05)
    res = run_finetune(cfg)
    assert set(res.shifted_acc) == {"update", "frozen", "eval", "adapt"}
    assert res.stats_drift["frozen"][-1] == 0 and res.stats_drift["eval"][-1] == 0  # the old statistics are kept
    assert res.stats_drift["update"][-1] > 0 and res.stats_drift["adapt"][-1] > 0
    for mode in res.shifted_acc:
        assert res.shifted_acc[mode][0] == pytest.approx(res.before["shifted"])
    adapt = build_model(TINY)
    adapt.load_state_dict(res.state_dict["adapt"])
    pre = res.pretrained.state_dict
    assert torch.equal(adapt.state_dict()["0.weight"], pre["0.weight"])  # no gradient step when adapting
    cache = {TINY: res.pretrained}
    again = run_finetune(cfg, cache=cache)
    np.testing.assert_array_equal(again.shifted_acc["update"], res.shifted_acc["update"])


@pytest.mark.parametrize("kw, words", [
    (dict(norm="weight"), "unknown norm 'weight'"),
    (dict(norm="group", width=6, groups=4), "groups=4 must divide width=6"),
    (dict(switch_epoch=1), "switch_epoch and switch_batch_size go together"),
    (dict(batch_size=100, train_size=64), "batch_size=100 is larger than the 64 training images"),
    (dict(lr=0.0), "lr=0 must be positive"),
    (dict(shift="rotate"), "unknown shift 'rotate'"),
    (dict(lr_schedule="step"), "unknown lr_schedule"),
])
def test_bad_configs_raise_one_line_value_errors(kw, words):
    with pytest.raises(ValueError) as info:
        run_training(TrainConfig(**{**TINY.__dict__, **kw}))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_bad_sweep_and_finetune_configs():
    with pytest.raises(ValueError, match="batch_sizes must be a non-empty tuple"):
        run_sweep(SweepConfig(batch_sizes=()))
    with pytest.raises(ValueError, match="pretrain.shift must be 'none'"):
        run_finetune(FinetuneConfig(pretrain=TrainConfig(shift="invert")))
    with pytest.raises(ValueError, match="unknown mode 'thaw'"):
        run_finetune(FinetuneConfig(modes=("thaw",)))
