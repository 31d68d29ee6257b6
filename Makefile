# Two entry points: `make demo` (train a model on the bundled corpus, then
# write with it) and `make test` (the suite). Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PAHAT := $(VENV)/bin/pahat
STAMP := $(VENV)/.installed
# The demo's budget: the cosine schedule is sized to end near DEMO_MINUTES on
# a 2-core laptop; --time-limit stops it there on a slower machine.
DEMO_MINUTES ?= 9
DEMO_STEPS ?= 1500

.PHONY: install test demo check-corpus bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# Prepares corpus/ into runs/demo-data, trains runs/demo from scratch (an
# earlier runs/demo is replaced), continues four Indonesian prompts, scores
# the validation split against the baselines and writes runs/demo/report.md.
demo: $(STAMP)
	$(PAHAT) prepare --corpus corpus --out runs/demo-data
	rm -rf runs/demo
	$(PAHAT) train --data runs/demo-data --out runs/demo --max-steps $(DEMO_STEPS) --time-limit $(DEMO_MINUTES)
	$(PAHAT) info --model runs/demo
	@for prompt in "Pagi itu aku" "Ibu menatapku lama, lalu berkata" "Hujan turun sejak sore, dan kamu" "Aku tidak pernah menyangka"; do \
		echo; echo "--- $$prompt"; \
		$(PAHAT) generate --model runs/demo --prompt "$$prompt" --max-new-tokens 100 --min-new-tokens 40 --temperature 0.8 --top-k 40 --seed 1; \
	done
	@echo
	$(PAHAT) eval --model runs/demo --split val
	$(PAHAT) report --model runs/demo

check-corpus: $(STAMP)
	$(PAHAT) corpus check corpus

# transformers (the baseline) is installed only here.
bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	$(PY) bench/train_throughput.py
	$(PY) bench/generate_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
