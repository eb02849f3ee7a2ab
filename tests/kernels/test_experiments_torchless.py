"""Without torch (or scikit-learn) the new experiments say so in one line; those that need neither
still run. Checked in a fresh interpreter with the package blocked."""

from ..fresh import run_fresh

BLOCK = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in {blocked!r}:
                raise ImportError(name + ' blocked for this test')
    sys.meta_path.insert(0, Block())
"""


def test_without_torch_each_experiment_says_so_in_one_line():
    out = run_fresh(BLOCK.format(blocked={"torch"}) + """
    import numpy as np
    from kernels.experiments import (TrainConfig, TransformerConfig, SeluConfig, PaddingConfig, IrisConfig,
        run_training, run_transformer, run_selu, run_padding, distributed_batch_norm, selu_map, adain)
    for name, call in [("training", lambda: run_training(TrainConfig(epochs=1))),
                       ("transformer", lambda: run_transformer(TransformerConfig())),
                       ("selu", lambda: run_selu(SeluConfig())),
                       ("distributed", lambda: distributed_batch_norm(np.ones((4, 2, 2, 2)), devices=2))]:
        try:
            call()
        except ValueError as exc:
            print(name, "|", exc)
    print("padding", run_padding(PaddingConfig()).batch.max_change > 0)
    print("map", selu_map(0.0, 1.0)[1])
    print("adain", adain(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2))).output.shape)
    """)
    lines = out.splitlines()
    for name in ("training", "transformer", "selu", "distributed"):
        line = next(s for s in lines if s.startswith(name + " |"))
        assert "needs torch: torch is not installed" in line, line
    assert "padding True" in lines and "map 1.0" in lines and "adain (1, 1, 2, 2)" in lines


def test_without_scikit_learn_the_data_sets_say_so():
    out = run_fresh(BLOCK.format(blocked={"sklearn"}) + """
    from kernels.experiments import IrisConfig, TrainConfig, run_iris, run_training
    for call in (lambda: run_iris(IrisConfig()), lambda: run_training(TrainConfig(epochs=1))):
        try:
            call()
        except ValueError as exc:
            print(exc)
    """)
    lines = out.splitlines()
    assert len(lines) == 2 and all("needs scikit-learn for its bundled data" in s for s in lines)
