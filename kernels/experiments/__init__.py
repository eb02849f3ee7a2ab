"""The numerical core of the Experiments: signals through deep stacks, BatchNorm over training
steps and batch sizes, and normalizations of weights (pure NumPy, torch for autograd when
installed); and, with torch, BatchNorm on a real process group (`distributed`), training on the
bundled digits (`training`), transformer norm placement (`transformer`), SELU's fixed point
(`selu`), conditional normalizations (`conditional`), padded sequences (`padding`) and feature
scaling on iris (`scaling`). No Qt; torch is imported when a run needs it, never here. Long runs
take progress(done, total) and cancelled() callables and raise `Cancelled` when cancelled()
returns True; every run is reproducible for its seed."""

from . import conditional, distributed, padding, scaling, selu, training, transformer
from ._common import MAX_VALUES, Cancelled, Values
from .batch_size import (
                         DEFAULT_SIZES,
                         DependenceResult,
                         NoiseResult,
                         ShrinkResult,
                         batch_noise,
                         sample_dependence,
                         unbiased_factor,
                         unbiased_shrink,
)
from .conditional import ConditionalResult, adain, conditional_batch_norm, film, film_parameters, group_instance_norm
from .depth import DepthConfig, DepthResult, LayerRecord, article_config, run_depth
from .depth import validate as validate_depth
from .distributed import DistributedConfig, DistributedResult, DistributedRun, ShardStats
from .distributed import Group as DistributedGroup
from .distributed import batch_norm as distributed_batch_norm
from .distributed import run as run_distributed
from .padding import PaddingConfig, PaddingResult
from .padding import run as run_padding
from .scaling import SCALINGS, IrisConfig, IrisResult
from .scaling import run as run_iris
from .selu import SeluConfig, SeluResult, selu_map, selu_moments
from .selu import run as run_selu
from .steps import (
                         FREEZE_MODES,
                         FreezeResult,
                         StepsConfig,
                         StepsResult,
                         batch_at,
                         distribution_at,
                         run_freeze,
                         run_steps,
)
from .steps import validate as validate_steps
from .training import (
                         FINETUNE_MODES,
                         FinetuneConfig,
                         FinetuneResult,
                         SweepConfig,
                         SweepResult,
                         TrainConfig,
                         TrainResult,
                         figure1_config,
                         load_model,
                         lr_config,
                         run_finetune,
                         run_sweep,
                         run_training,
                         save_model,
)
from .training import NORMS as TRAIN_NORMS
from .transformer import PLACEMENTS, TransformerConfig, TransformerResult
from .transformer import run as run_transformer
from .weights import (
                         WEIGHT_KINDS,
                         LayerEffect,
                         SpectralNormResult,
                         StandardizedWeight,
                         WeightNormResult,
                         layer_effect,
                         normalize_weight,
                         spectral_norm,
                         weight_norm,
                         weight_shared_mask,
                         weight_standardization,
)

__all__ = [
    "Cancelled", "Values", "MAX_VALUES",
    "DepthConfig", "DepthResult", "LayerRecord", "article_config", "run_depth", "validate_depth",
    "StepsConfig", "StepsResult", "validate_steps", "FreezeResult", "FREEZE_MODES", "run_steps", "run_freeze",
    "batch_at", "distribution_at",
    "DEFAULT_SIZES", "NoiseResult", "DependenceResult", "ShrinkResult", "batch_noise", "sample_dependence",
    "unbiased_factor", "unbiased_shrink",
    "WEIGHT_KINDS", "WeightNormResult", "SpectralNormResult", "StandardizedWeight", "LayerEffect", "weight_norm",
    "spectral_norm", "weight_standardization", "normalize_weight", "weight_shared_mask", "layer_effect",
    # torch-backed experiments (modules, and their main names)
    "distributed", "training", "transformer", "selu", "conditional", "padding", "scaling",
    "DistributedConfig", "DistributedRun", "DistributedResult", "ShardStats", "DistributedGroup",
    "distributed_batch_norm", "run_distributed",
    "TRAIN_NORMS", "FINETUNE_MODES", "TrainConfig", "TrainResult", "SweepConfig", "SweepResult", "FinetuneConfig",
    "FinetuneResult", "run_training", "run_sweep", "run_finetune", "figure1_config", "lr_config", "save_model",
    "load_model",
    "PLACEMENTS", "TransformerConfig", "TransformerResult", "run_transformer",
    "SeluConfig", "SeluResult", "run_selu", "selu_map", "selu_moments",
    "ConditionalResult", "film", "film_parameters", "adain", "conditional_batch_norm", "group_instance_norm",
    "PaddingConfig", "PaddingResult", "run_padding",
    "SCALINGS", "IrisConfig", "IrisResult", "run_iris",
]
