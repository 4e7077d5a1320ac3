# The README's commands. `install` is idempotent; `run` and `test` depend on it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: install install-test run test demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) pyproject.toml
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(PY) server.py demo --if-empty

run: install demo
	@echo
	@echo "Next: open http://$(HOST):$(PORT)/ , or import dist/ into Maltego (see README)."
	@echo "Try:  $(PY) server.py local dtfp0101010pivotdomain shop-login.regway.test"
	@echo
	$(PY) server.py runserver --host $(HOST) --port $(PORT)

test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var dist .pytest_cache
