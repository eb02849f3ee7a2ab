"""The conventions behind a method's numbers, named in words: what users most often get wrong."""

from __future__ import annotations


def conventions(spec, params: dict, training: bool = True) -> list:
    out = []
    if spec.centers and spec.family == "activation":
        out.append("Variance for normalizing: biased, divided by n (as torch, TensorFlow and NumPy compute it).")
    if not spec.centers and spec.name != "minmax":
        out.append("No centering: the mean is not subtracted; the scale statistic is the mean square.")
    if "eps" in params and spec.name != "standardize":
        eps = params["eps"]
        out.append(f"eps = {eps if eps is not None else 'finfo(dtype).eps'} is added inside the square root: "
                   "sqrt(var + eps), not sqrt(var) + eps.")
    if spec.running_stats:
        m = params.get("momentum")
        if params.get("momentum_convention") == "keras":
            out.append(f"Keras momentum: running = {m}·running + {1 - m:.3g}·batch, with the biased variance.")
        elif m is None:
            out.append("momentum=None: the running statistics are the cumulative average over all batches so far.")
        else:
            out.append(f"torch momentum: running = {1 - m:.3g}·running + {m}·batch, with the unbiased variance "
                       "n/(n−1)·var (Keras' momentum 0.99 is torch's 0.01).")
        out.append("Mode: train — batch statistics, running statistics updated." if training
                   else "Mode: eval — the running statistics, the same for every batch.")
    if spec.name in ("standardize", "minmax"):
        out.append("Data scaling as scikit-learn does it: statistics per feature over the samples, no eps; a "
                   "constant feature gets scale 1.")
    if spec.name == "lrn":
        out.append("torch divides alpha by the window size n (alpha/n · sum of squares); TensorFlow does not.")
    return out
