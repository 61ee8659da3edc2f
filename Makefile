# The two commands of README.md: `make demo` and `make test`.
.PHONY: demo test lint setup bench sync-crds

setup:
	bash scripts/setup.sh

demo:
	bash scripts/setup.sh --no-tools
	.venv/bin/aurora-restore demo

lint: setup
	.venv/bin/ruff check operator sandbox tests scripts $(wildcard bench)
	.venv/bin/ruff format --check operator sandbox

test: setup
	.venv/bin/ruff check operator sandbox tests scripts $(wildcard bench)
	.venv/bin/ruff format --check operator sandbox
	.venv/bin/python -m pytest -q -p no:cacheprovider

# Every case of bench/scale.py (about 35 min); rewrites the results in docs/benchmarks.md.
bench: setup
	.venv/bin/python -m bench.scale --docs docs/benchmarks.md

sync-crds:
	bash scripts/sync-crds.sh
