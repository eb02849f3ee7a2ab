"""The Experiments: depth (signal through a deep stack), training steps and batch size
(BatchNorm over time), and weight normalizations, as views and headless commands."""

from .cli import add_commands
from .depth_view import DepthView
from .steps_view import StepsView
from .weights_view import WeightsView

__all__ = ["DepthView", "StepsView", "WeightsView", "add_commands"]
