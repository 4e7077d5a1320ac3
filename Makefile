# The README's commands. `install` is idempotent; `run` and `test` depend on it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: install install-test run test demo export browser bench clean

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

export: install
	$(PY) server.py export --out dist --base-url http://$(HOST):$(PORT)

run: install demo export
	@echo
	@echo "Next: open http://$(HOST):$(PORT)/ , or import dist/ into Maltego (see README)."
	@echo "Try:  $(PY) server.py local dtfp0101010pivotdomain calmoriver.test"
	@echo
	$(PY) server.py runserver --host $(HOST) --port $(PORT)

# Debian's chromium for the page test; without it (or without root) those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: browser tests will be skipped"

test: install-test browser
	$(PY) -m pytest -q

bench: install-test
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var dist .pytest_cache
