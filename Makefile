# Two entry points: `make test` (the suite) and `make check-corpus`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test check-corpus clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

check-corpus: $(STAMP)
	$(VENV)/bin/pahat corpus check corpus

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
