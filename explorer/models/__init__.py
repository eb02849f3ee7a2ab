"""The Model tab and the `norm-explorer model` command: a real network's normalization layers
(kernels.models) listed with their health, their real inputs captured, BatchNorm folded, and one
layer's captured input opened in the Explore tab with the layer's own settings.

Qt-free: `report` (tables, JSON numbers, colours), `explore` (the hand-off to the Explore tab),
`jobs` (what the worker runs), `cli`. The rest are widgets; `model_view.ModelView` is the tab."""
