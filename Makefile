# The two commands of the quick start: `make demo` and `make test`. Both install what they need first.
.PHONY: install demo test test-fast test-e2e lint typecheck pytest bench clean lock

PY := .venv/bin/python

install:
	@scripts/install.sh

demo: install
	$(PY) -m konbini_demo

test: install lint typecheck pytest

# The edit-run loop: the tests that start no service (pcscd, registry_sim, a server, CUPS, Chromium): short tools
# such as pdftotext or a command stopped by a bad setting still run.
test-fast: install
	.venv/bin/pytest -q -m "not e2e" $(XDIST)

# Only the tests across real processes.
test-e2e: install
	.venv/bin/pytest -q -m e2e $(XDIST)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy wire devices issuance_server registration recovery kiosk registry_sim konbini_demo bench tests

# Parallel workers, a module to a worker (its stacks and fixtures with it): tests/README.md has the figures.
WORKERS ?= 3
XDIST := -n $(WORKERS) --dist loadfile --no-loadscope-reorder
pytest:
	.venv/bin/pytest -q $(XDIST)

# Every bench, then the figures that have a goal (issue 15's table among them) from this one run.
FIGURES := var/bench/figures.jsonl
bench: install
	mkdir -p var/bench && : > $(FIGURES)
	for b in bench/bench_*.py; do KONBINI_BENCH_FIGURES=$(CURDIR)/$(FIGURES) $(PY) $$b || exit 1; done
	$(PY) bench/figures.py $(FIGURES)

# Re-resolve requirements.lock (exact versions and hashes that `make install` takes) after changing the
# dependencies in pyproject.toml; versions already in the lock are kept unless you add --upgrade(-package).
lock:
	.venv/bin/pip install -q uv
	.venv/bin/uv pip compile --quiet pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
	  --no-header -o requirements.lock $(UPGRADE)

clean:
	rm -rf var/demo out
