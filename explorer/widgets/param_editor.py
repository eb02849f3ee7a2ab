"""Controls generated from a method's registry parameters (groups, eps, size, momentum, axes,
affine weight and bias, ...). Each edit writes the whole params dict to AppState."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QSpinBox, QWidget

from kernels import BATCH, CHANNEL

from ..frameworks import param_specs
from .common import SciSpinBox, blocked, mark_invalid, set_value

#: The affine parameters are shown as one number each; their neutral values mean "not used".
AFFINE_NEUTRAL = {"weight": 1.0, "bias": 0.0}
LABELS = {"eps": "eps ε", "weight": "weight γ", "bias": "bias β", "momentum": "momentum",
          "momentum_convention": "convention", "virtual_batch": "virtual batch", "feature_range": "range",
          "with_mean": "subtract mean", "with_std": "divide by std", "tlu": "TLU", "tau": "τ (TLU)",
          "use_fast_variance": "one-pass variance", "pytorch_compatible": "torch's groups", "opset": "opset",
          "depth_radius": "depth radius r"}


class ParamEditor(QWidget):
    """A form with one control per parameter of the current method, in the chosen framework's names,
    defaults and meaning (explorer.frameworks.param_specs)."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.controls: dict = {}  # param name -> (widgets, reader)
        self._built_for = None
        self.sync()

    # -- building -------------------------------------------------------------------------
    def _rebuild(self):
        while self.form.rowCount():
            self.form.removeRow(0)
        self.controls.clear()
        for p in self.specs():
            widget, reader = self._make(p)
            widget.setToolTip(p.doc)
            self.form.addRow(LABELS.get(p.name, p.name), widget)
            self.controls[p.name] = (widget, reader)
        self._built_for = (self.state.method, self.state.layout, self.state.framework)

    def specs(self) -> list:
        return param_specs(self.state.method, self.state.framework)

    def _make(self, p):
        name = p.name
        if p.kind == "int":
            w = QSpinBox(objectName=f"spin_{name}")
            w.setRange(int(p.minimum if p.minimum is not None else 0), 100000)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._commit)
            return w, w.value
        if p.kind in ("float", "array"):
            w = self._sci(p, f"spin_{name}")

            def read(w=w, n=name, p=p):
                if not w.isEnabled():  # an array given through the API: keep it
                    return self.state.params.get(n)
                neutral = p.kind == "array" and n in AFFINE_NEUTRAL and w.value() == AFFINE_NEUTRAL[n]
                return None if neutral else w.value()
            return w, read
        if p.kind == "optional_float":
            box = QWidget()
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            spin = self._sci(p, f"spin_{name}")
            none = QCheckBox("None", objectName=f"check_{name}_none")
            none.setToolTip("momentum=None: cumulative average over all batches" if name == "momentum"
                            else "None: torch.finfo(dtype).eps")
            none.toggled.connect(lambda on, s=spin: s.setEnabled(not on))
            none.toggled.connect(self._commit)
            row.addWidget(spin, 1)
            row.addWidget(none)
            return box, (lambda s=spin, c=none: None if c.isChecked() else s.value())
        if p.kind == "bool":
            w = QCheckBox(objectName=f"check_{name}")
            w.toggled.connect(self._commit)
            return w, w.isChecked
        if p.kind == "choice":
            w = QComboBox(objectName=f"combo_{name}")
            w.addItems([str(c) for c in p.choices])
            w.currentTextChanged.connect(self._commit)
            return w, (lambda w=w, choices=tuple(p.choices): choices[w.currentIndex()] if w.currentIndex() >= 0
                       else None)
        if p.kind == "axes":
            box = QWidget(objectName=f"axes_{name}")
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            checks = []
            for letter in self.state.layout:
                c = QCheckBox(letter, objectName=f"check_axis_{letter}")
                c.setToolTip({BATCH: "reduce over the batch", CHANNEL: "reduce over the channels"}.get(
                    letter, f"reduce over {letter}"))
                c.toggled.connect(self._commit)
                row.addWidget(c)
                checks.append(c)
            return box, (lambda cs=checks: "".join(c.text() for c in cs if c.isChecked()))
        if p.kind == "range":
            box = QWidget()
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            low, high = self._sci(p, f"spin_{name}_low"), self._sci(p, f"spin_{name}_high")
            row.addWidget(low)
            row.addWidget(high)
            return box, (lambda lo=low, hi=high: (lo.value(), hi.value()))
        raise ValueError(f"no control for parameter kind {p.kind!r}")

    def _sci(self, p, object_name):
        lo = p.minimum if p.minimum is not None else -1e6
        hi = p.maximum if p.maximum is not None else 1e6
        w = SciSpinBox(log=p.log, minimum=lo, maximum=hi)
        w.setObjectName(object_name)
        if p.maximum is not None and p.maximum <= 1:
            w.setSingleStep(0.01)
        w.valueChanged.connect(self._commit)
        return w

    # -- state -> widgets ---------------------------------------------------------------------
    def sync(self):
        if self._built_for != (self.state.method, self.state.layout, self.state.framework):
            self._rebuild()
        values = self.state.resolved_params or {}
        for p in self.specs():
            widget, _ = self.controls[p.name]
            value = self.state.params.get(p.name, values.get(p.name, p.default if not callable(p.default) else None))
            self._show(p, widget, value)
        self.show_error(self.state.error)

    def _show(self, p, widget, value):
        children = [widget] + widget.findChildren(QWidget)
        with blocked(*children):
            if p.kind == "int" and value is not None:
                set_value(widget, int(value))
            elif p.kind in ("float", "array"):
                neutral = AFFINE_NEUTRAL.get(p.name, 0.0)
                set_value(widget, float(value) if isinstance(value, (int, float)) else neutral)
                widget.setEnabled(value is None or isinstance(value, (int, float)))
            elif p.kind == "optional_float":
                spin = widget.findChild(SciSpinBox)
                check = widget.findChild(QCheckBox)
                check.setChecked(value is None)
                spin.setEnabled(value is not None)
                if value is not None:
                    set_value(spin, float(value))
                elif p.name == "momentum":
                    set_value(spin, 0.1)
            elif p.kind == "bool":
                widget.setChecked(bool(value))
            elif p.kind == "choice":
                widget.setCurrentText(str(value))
            elif p.kind == "axes":
                for c in widget.findChildren(QCheckBox):
                    c.setChecked(c.text() in (value or ""))
            elif p.kind == "range":
                low, high = widget.findChildren(SciSpinBox)
                set_value(low, float(value[0]))
                set_value(high, float(value[1]))

    def show_error(self, message):
        """Outline the controls the error message names."""
        for name, (widget, _) in self.controls.items():
            bad = bool(message) and re.search(rf"\b{re.escape(name)}\b", message) is not None
            for w in [widget] + widget.findChildren(QWidget):
                if isinstance(w, (QSpinBox, SciSpinBox, QComboBox)):
                    mark_invalid(w, bad)

    # -- widgets -> state -----------------------------------------------------------------------
    def _commit(self, *_):
        params = dict(self.state.params)
        for name, (_, reader) in self.controls.items():
            value = reader()
            default = self.state.resolved_params.get(name) if self.state.resolved_params else None
            if name in params or value != default:
                params[name] = value
            if value is None and name in AFFINE_NEUTRAL:
                params.pop(name, None)

        self.state.update(params=params)
