"""What the method does, on screen: its formula, the axes in words for the settings of the
Scene shown, the conventions it follows, the chosen framework's layer and how far its numbers are
from torch's, pitfalls (the framework's too), the scene's warnings and, when the current settings
cannot be computed, why; and the code for the current settings in a tab per framework."""

from __future__ import annotations

import html
import re

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from kernels import FRAMEWORKS

from .. import theme
from ..conventions import conventions
from ..frameworks import pitfalls, snippets
from ..words import plural
from .common import DeferredPanel


class InfoPanel(DeferredPanel):
    def __init__(self, busy=lambda: False, parent=None):
        super().__init__(busy, parent)
        self.error = None
        self.setObjectName("panel_info")
        self._page, self._code, self._chosen = None, None, None
        split = QSplitter(Qt.Orientation.Vertical)
        self.text = QTextBrowser(objectName="text_info")
        self.text.setOpenExternalLinks(False)
        split.addWidget(self.text)
        code_box = QWidget()
        v = QVBoxLayout(code_box)
        v.setContentsMargins(0, 0, 0, 0)
        self.tabs_code = QTabWidget(objectName="tabs_code")
        v.addWidget(self.tabs_code)
        row = QHBoxLayout()
        row.addStretch(1)
        self.button_copy = QPushButton("Copy code", objectName="button_copy_code")
        self.button_copy.setToolTip("Copy the code in the current tab to the clipboard")
        self.button_copy.clicked.connect(self.copy_code)
        row.addWidget(self.button_copy)
        v.addLayout(row)
        split.addWidget(code_box)
        split.setSizes([420, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)

    def set_error(self, message):
        self.error = message
        self._later.start()

    def refresh(self):
        c = self.scene
        if c is None:
            if self.error:
                self.text.setHtml(f"<p style='color:#b71c1c'><b>Cannot compute:</b> {html.escape(self.error)}</p>")
            return
        s = c.settings
        spec = s.spec
        params = c.result.params
        parts = [f"<h3>{html.escape(spec.label)}</h3><p>{html.escape(spec.summary)}</p>",
                 f"<p style='font-size:12pt'>{formula_html(spec.formula)}</p>",
                 f"<p style='color:{theme.muted()}'>The formula is written for (N, C, H, W); the line below says what "
                 "it means for your layout and sizes.</p>"]
        sharing = c.sharing
        what = "Statistics shared" if sharing.shares_groups else "Window"
        parts.append(f"<p><b>{what}:</b> {html.escape(sharing.describe())}"
                     + (f" — {plural(sharing.n_groups, 'group')} of {plural(sharing.group_size, 'element')}"
                        if sharing.shares_groups else "") + ".</p>")
        if self.error:
            parts.append(f"<p style='color:#b71c1c'><b>Cannot compute:</b> {html.escape(self.error)} (shown: the "
                         f"last settings that could be)</p>")
        if c.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in c.warnings)
            parts.append(f"<div style='background:#fff4e0;padding:4px'><b>⚠ Warnings</b><ul>{items}</ul></div>")
        if c.running_used and not s.training:
            rm, rv = (np.asarray(a) for a in c.running_used)
            source = {"warmed": "after 20 training steps on fresh batches", "fresh": "fresh: 0 and 1"}.get(
                s.running, f"stored in {s.file.label if s.file is not None else 'the file'}")
            parts.append(f"<p>Eval used running_mean [{_preview(rm)}] and running_var [{_preview(rv)}] "
                         f"({source}).</p>")
        if s.framework != "torch":
            fw = FRAMEWORKS[s.framework]
            offer = fw.offers[s.method]
            delta = c.framework_delta
            parts.append(f"<h4>{html.escape(fw.label)}</h4><p><code>{html.escape(offer.api)}</code></p>"
                         + (f"<p><b>{html.escape(delta.sentence)}</b></p>" if delta is not None else "")
                         + "<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in offer.conventions) + "</ul>")
        every = tuple(spec.pitfalls) + pitfalls(s.method, s.framework)
        if every:  # before the conventions: the confusions are what people come for
            parts.append("<h4>Pitfalls</h4><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in every) + "</ul>")
        parts.append("<h4>Conventions</h4><ul>" + "".join(f"<li>{html.escape(t)}</li>"
                                                          for t in conventions(spec, params, s.training))
                     + "</ul>")
        if spec.references:
            parts.append("<h4>References</h4><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in spec.references)
                         + "</ul>")
        page = "".join(parts)
        if page != self._page:  # results arrive many times a second; rebuild only what changed
            self._page = page
            self.text.setHtml(page)
        self._refresh_code(s)

    def _refresh_code(self, s):
        code = snippets(s)
        if code == self._code:
            return
        self._code = code
        chosen = FRAMEWORKS[s.framework].label
        titles = [self.tabs_code.tabText(i) for i in range(self.tabs_code.count())]
        if titles == list(code):  # same tabs: new text in the same editors
            for i, (text, tip) in enumerate(code.values()):
                self.tabs_code.widget(i).setPlainText(text)
                self.tabs_code.setTabToolTip(i, tip)
            if self._chosen != chosen:
                self.tabs_code.setCurrentIndex(titles.index(chosen))
            self._chosen = chosen
            return
        current = self.tabs_code.tabText(self.tabs_code.currentIndex()) if self.tabs_code.count() else ""
        while self.tabs_code.count():
            w = self.tabs_code.widget(0)
            self.tabs_code.removeTab(0)
            w.deleteLater()
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        names = {fw.label: name for name, fw in FRAMEWORKS.items()}
        for title, (text, tip) in code.items():
            edit = QPlainTextEdit(objectName=f"code_{names.get(title, title.lower().replace('-', '_'))}")
            edit.setReadOnly(True)
            edit.setFont(font)
            edit.setPlainText(text)
            self.tabs_code.addTab(edit, title)
            self.tabs_code.setTabToolTip(self.tabs_code.count() - 1, tip)
            if title == (chosen if self._chosen != chosen else current):
                self.tabs_code.setCurrentWidget(edit)
        self._chosen = chosen

    def copy_code(self):
        edit = self.tabs_code.currentWidget()
        if edit is not None:
            QGuiApplication.clipboard().setText(edit.toPlainText())


def _preview(values: np.ndarray, count: int = 4) -> str:
    shown = ", ".join(f"{v:.3g}" for v in values.ravel()[:count])
    return shown + (", …" if values.size > count else "")


def formula_html(formula: str) -> str:
    """A registry formula as HTML: one line per line, subscripts (x_c, Σ_{c'}) and superscripts (^β)
    set as such, so a long formula wraps between terms instead of showing its markup."""
    text = html.escape(formula, quote=False)
    text = re.sub(r"_\{([^}]*)\}", r"<sub>\1</sub>", text)
    text = re.sub(r"_([A-Za-z0-9])(?![A-Za-z0-9_])", r"<sub>\1</sub>", text)  # x_c, μ_B; not running_var
    text = re.sub(r"\^([^\s,;)]+)", r"<sup>\1</sup>", text)
    return text.replace("\n", "<br>")
