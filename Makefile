# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint schema bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || (echo "Python 3.11+ is required" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/valueverse serve --local-org

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

schema: install
	$(BIN)/valueverse export-schema -o schema.graphql

clean:
	rm -rf $(VENV) *.egg-info
