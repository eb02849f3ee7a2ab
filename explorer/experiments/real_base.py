"""What the views of the experiments on real data share, on top of ExperimentView: what they need
said up front (torch, scikit-learn), finished runs kept by config (a config run before comes back at
once), a line saying what Run will do before the first run, and the run policy: a quick default
runs when the view is first shown, a long one waits for Run."""

from __future__ import annotations

import pyqtgraph as pg

from ..messages import one_line
from .real_parts import fresh, note
from .real_runs import missing_requirements
from .runs import write_csv
from .view_base import ExperimentView
from .view_parts import caption, show_outcome


class RealExperimentView(ExperimentView):
    """Subclasses set NEEDS, AUTORUN (run the default when first shown: it takes a second or two),
    RERUN_ON_CHANGE (a control change reruns once a result is shown), DEFAULT_TIME (what the
    line before the first run says) and CACHE, and implement config() (hashable), compute(cfg, progress,
    cancelled), show_result(result) and csv_text(result). `result` is the latest result; `cache`
    maps each config run so far to its result."""

    NEEDS: tuple = ("torch",)
    AUTORUN = False
    RERUN_ON_CHANGE = False
    DEFAULT_TIME = ""
    CACHE = True  # keep finished runs by config (off where a rerun measures something anew)

    def __init__(self, name: str, parent=None):
        super().__init__(name, parent)
        self.result = None
        self.cache: dict = {}
        self.missing = missing_requirements(self.NEEDS)
        self.label_placeholder = caption(self._placeholder_text(), "label_placeholder")

    def _placeholder_text(self) -> str:
        if self.AUTORUN:
            return "computing the default run…"
        return (f"Not run yet: press Run to compute{f' ({self.DEFAULT_TIME})' if self.DEFAULT_TIME else ''}."
                + (" Finished runs are kept: a setting run before shows again at once." if self.CACHE else ""))

    def _built(self, autorun: bool = False):
        super()._built(False)
        if self.missing:
            self.run_bar.button_run.setEnabled(False)
            self.run_bar.button_run.setToolTip(self.missing)
            show_outcome(self.label_status, self.missing, "error")
            self.label_placeholder.setText(self.missing)
        if autorun:
            self.first_show()

    def first_show(self):
        """The view is shown for the first time: run a quick default, or wait for Run (the plots say so)."""
        if self.AUTORUN and not self.missing:
            self.run()
        elif self.result is None:
            for plot in self.findChildren(pg.PlotWidget):
                note(plot, self.missing.split(":")[0] if self.missing else "not run yet: press Run")
            self._noted = True

    # -- running ---------------------------------------------------------------------------------
    def config(self):
        raise NotImplementedError

    def compute(self, cfg, progress, cancelled):
        raise NotImplementedError

    def schedule(self, *_):
        """A control changed: rerun (after a pause) when the view reruns on changes; else say Run is needed."""
        if self.AUTORUN or (self.RERUN_ON_CHANGE and self.result is not None):
            super().schedule()
        elif self.result is not None and not self.busy:
            show_outcome(self.label_status, "settings changed: press Run to compute them (the plots show the "
                                            "previous run)", "warning")

    def job(self):
        cfg = self.config()
        if self.CACHE and cfg in self.cache:
            cached = self.cache[cfg]
            return lambda progress, cancelled: (cfg, cached, True)
        return lambda progress, cancelled: (cfg, self.compute(cfg, progress, cancelled), False)

    def run(self):
        self._debounce.stop()
        if self.missing:
            show_outcome(self.label_status, self.missing, "error")
            return
        try:
            job = self.job()
        except ValueError as exc:  # a setting the kernels refuse: one line, nothing runs
            self.error = one_line(exc)
            show_outcome(self.label_status, self.error, "error")
            return
        self.runner.submit(job)
        show_outcome(self.label_status, "running…")

    def _on_finished(self, payload):
        cfg, result, cached = payload
        if self.CACHE:
            self.cache[cfg] = result
        self.result, self.error = result, None
        self.label_placeholder.hide()
        if getattr(self, "_noted", False):  # the plots said "press Run": make them plots again
            for plot in self.findChildren(pg.PlotWidget):
                fresh(plot)
            self._noted = False
        self.show_result(result)
        if cached:
            show_outcome(self.label_status, f"{self.label_status.text()} · shown from the finished runs kept")

    def show_result(self, result):
        raise NotImplementedError

    # -- app hooks ---------------------------------------------------------------------------------
    def csv_text(self, result) -> str:
        raise NotImplementedError

    def export_csv(self, path):
        """The shown result's numbers to `path` (SaveError on failure, ValueError before the first run)."""
        if self.result is None:
            raise ValueError("nothing to export yet: the experiment has not finished a run")
        write_csv(path, self.csv_text(self.result))
