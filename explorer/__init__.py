"""Norm Explorer's desktop application (PySide6 + pyqtgraph). The math lives in `kernels`."""

__version__ = "0.1.0"
