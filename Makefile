# `make repro` and `make test` are the two commands a newcomer runs; both go through `make setup`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP_VERSION := 26.3

.PHONY: setup repro compare test test-fast lint lock clean

setup: $(STAMP)

# Re-installs only when the lock file or the package metadata changed (idempotent and quick).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

repro: setup
	$(VENV)/bin/dvc repro
	@echo ""
	@echo "Results:"
	@echo "  metrics  : metrics/*.json    ($(VENV)/bin/dvc metrics show)"
	@echo "  compare  : make compare      (the headline figures in one screen)"
	@echo "  plots    : plots/            ($(VENV)/bin/dvc plots show, then open dvc_plots/index.html)"
	@echo "  reports  : reports/          (model_card.md, montage.png, cohort_preview.png)"
	@echo "  model    : models/model.onnx ($(VENV)/bin/python stages/predict.py --help)"

# The figures people compare (model vs baseline, out of fold), narrow enough for a terminal.
compare: setup
	@$(VENV)/bin/python tools/compare.py

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check --no-cache src stages tests benchmarks tools
	$(VENV)/bin/mypy src

# Regenerate the lock from requirements.in (run after changing a direct dependency).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet pip==$(PIP_VERSION) && .lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^pip==' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache
