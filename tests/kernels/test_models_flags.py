"""Every health flag: raised by the state it describes (and only then), with its level and a sentence
saying why it matters; flags read the same from a torch module and from its state_dict."""

import pickle

import numpy as np
import pytest

from kernels.models import Flag, GapStats, NormLayer, open_model


def bn(c=4, **kw) -> NormLayer:
    state = dict(name="bn", family="batch", kind="BatchNorm2d", eps=1e-5, momentum=0.1,
                 weight=np.ones(c, np.float32), bias=np.zeros(c, np.float32),
                 running_mean=np.full(c, 0.3, np.float32), running_var=np.full(c, 2.0, np.float32),
                 num_batches_tracked=100)
    state.update(kw)
    return NormLayer(**state)


def codes(layer) -> dict:
    return {f.code: f.level for f in layer.flags}


def test_a_healthy_layer_has_no_flag():
    assert bn().flags == [] and bn().health == "ok"


@pytest.mark.parametrize("change, code, level, words", [
    (dict(running_var=np.array([2, 1e-5, 5e-5, 2], np.float32)), "eps_dominates", "warning", "2 of 4 channels"),
    (dict(weight=np.array([1, 0, 1e-4, 1], np.float32)), "dead_channel", "warning", "2 of 4 channels"),
    (dict(weight=np.zeros(4, np.float32)), "dead_channel", "problem", "4 of 4"),
    (dict(running_mean=np.zeros(4, np.float32), running_var=np.ones(4, np.float32), num_batches_tracked=0),
     "never_trained", "problem", "does not normalize"),
    (dict(num_batches_tracked=0), "not_counted", "info", "converted"),
    (dict(momentum=0.0), "momentum_frozen", "info", "never changes"),
    (dict(momentum=1.0), "momentum_last_batch", "warning", "last training batch"),
    (dict(momentum=0.0, momentum_convention="keras"), "momentum_last_batch", "warning", "keras"),
    (dict(momentum=1.0, momentum_convention="keras"), "momentum_frozen", "info", "frozen"),
    (dict(momentum=None), "momentum_cumulative", "info", "cumulative"),
    (dict(running_var=np.array([2, 3e4, 2, 2], np.float32)), "huge_var", "warning", "float16"),
    (dict(running_var=np.array([2, -1, 2, 2], np.float32)), "negative_var", "problem", "negative"),
    (dict(running_mean=np.array([0, np.nan, 0, 0], np.float32)), "nonfinite", "problem", "NaN"),
    (dict(running_mean=None, running_var=None, batch_stats_in_eval=True), "batch_stats_in_eval", "info",
     "rest of its batch"),
    (dict(training_mode=True), "training_mode", "warning", "training mode"),
    (dict(assumptions=["eps=1e-05 assumed: a state_dict does not store eps (torch's default)"]), "assumed", "info",
     "assumed"),
])
def test_each_flag(change, code, level, words):
    layer = bn(**change)
    flags = {f.code: f for f in layer.flags}
    assert code in flags, layer.flags
    flag = flags[code]
    assert isinstance(flag, Flag) and isinstance(flag, str) and flag.level == level
    again = pickle.loads(pickle.dumps(flag))  # flags travel between threads and processes intact
    assert (again, again.code, again.level) == (flag, flag.code, flag.level)
    assert words in flag and ":" in flag and len(flag) > 50  # what, then why it matters
    assert layer.health == max((f.level for f in layer.flags), key=["info", "warning", "problem"].index)
    assert [f.level for f in layer.flags] == sorted((f.level for f in layer.flags),
                                                    key=["problem", "warning", "info"].index)


def test_the_gap_flag_follows_the_numbers():
    c = 3
    near = GapStats(batch_mean=np.full(c, 0.1), batch_var=np.full(c, 1.1), running_mean=np.zeros(c),
                    running_var=np.ones(c), eps=1e-5, count=10)
    far = GapStats(batch_mean=np.full(c, 3.0), batch_var=np.full(c, 30.0), running_mean=np.zeros(c),
                   running_var=np.ones(c), eps=1e-5, count=10)
    assert near.shift_rms == pytest.approx(0.1, rel=1e-4) and near.ratio_worst == pytest.approx(np.sqrt(1.1), 1e-4)
    assert "gap" not in codes(bn(c, gap=near))
    assert codes(bn(c, gap=far))["gap"] == "problem"
    middle = GapStats(batch_mean=np.full(c, 0.8), batch_var=np.ones(c), running_mean=np.zeros(c),
                      running_var=np.ones(c), eps=1e-5, count=10)
    assert codes(bn(c, gap=middle))["gap"] == "warning"


def test_flags_of_a_module_and_of_its_state_dict_agree(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 1), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 4, 1),
                              torch.nn.BatchNorm2d(4), torch.nn.LayerNorm(4))
    with torch.no_grad():
        net[1].running_var.copy_(torch.tensor([1.0, 1e-6, 2.0, 3.0]))
        net[1].running_mean.fill_(0.5)
        net[1].weight.copy_(torch.tensor([1.0, 0.0, 1.0, 1.0]))
        net[1].num_batches_tracked.fill_(10)
        net[4].weight.fill_(0.0)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    module, weights = open_model(net), open_model(tmp_path / "net.pt")
    for model in (module, weights):
        layers = {layer.name: codes(layer) for layer in model.layers}
        assert {"eps_dominates", "dead_channel"} <= set(layers["1"])
        assert layers["3"]["never_trained"] == "problem"
        assert layers["4"]["dead_channel"] == "problem"
    assert "assumed" not in codes(module.layer("1")) and codes(weights.layer("1"))["assumed"] == "info"
    assert [s[1] for s in module.strip()] == ["warning", "problem", "problem"]
    rows = module.table()
    assert rows[0]["name"] == "1" and rows[0]["health"] == "warning" and "eps dominates" in rows[0]["flags"]
