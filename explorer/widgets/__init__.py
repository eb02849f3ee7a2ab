"""The explorer's widgets: controls that write to AppState and views that read from it."""

import pyqtgraph as pg

# white plots with black text everywhere, whichever view is imported first
pg.setConfigOptions(antialias=True, background="w", foreground="k")
