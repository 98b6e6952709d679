# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv (python3 -m venv) if it is missing and install the project with
# its dev extra into it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint bench soak clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m anyio_tools demo --backend asyncio
	$(PY) -m anyio_tools demo --backend trio

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory lint

lint: $(STAMP)
	$(PY) -m ruff check anyio_tools tests benchmarks
	$(PY) -m ruff format --check anyio_tools tests benchmarks
	$(PY) -m mypy --strict anyio_tools

bench: $(STAMP)
	$(PY) benchmarks/run.py

soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest tests/properties --timeout 0 $(PYTEST_ARGS)
	ANYIO_TOOLS_SOAK=1 $(PY) -m pytest tests/foundation/test_argument_limits.py -m slow -s -q \
		--timeout 0 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
