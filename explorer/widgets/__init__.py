"""The explorer's widgets: controls that write to AppState and views that read from it."""

from .. import theme  # noqa: F401 (pyqtgraph's plot colours, set once before any plot exists)

