# The two commands of the quick start: `make demo` and `make test`. Both install what they need first.
.PHONY: install demo test lint typecheck pytest bench clean

PY := .venv/bin/python

install:
	@scripts/install.sh

demo: install
	$(PY) -m konbini_demo

test: install lint typecheck pytest

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy wire issuance_server registration recovery kiosk registry_sim konbini_demo bench

pytest:
	.venv/bin/pytest -q

bench: install
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf var/demo out
