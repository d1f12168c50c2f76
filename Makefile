# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   -- create .venv, install, run the whole pipeline on the synthetic dataset
#   make test   -- create .venv with the test extras, run the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
DEMO_DIR ?= demo_out
DEMO_WORKERS ?= 2

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/twostream make-synthetic --preset demo --out $(DEMO_DIR)/synthetic
	$(BIN)/twostream index --dataset ucf101 --root $(DEMO_DIR)/synthetic --out $(DEMO_DIR)/manifest.json
	$(BIN)/twostream check-videos $(DEMO_DIR)/manifest.json --report $(DEMO_DIR)/videos.json
	@echo "demo outputs: $(DEMO_DIR)/ (synthetic videos, manifest.json, videos.json)"

test: install-test
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
