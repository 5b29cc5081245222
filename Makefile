# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The portals and GraphiQL: a Next.js static export in frontend/out, rebuilt when its sources, its lockfile or
# the schema change (npm ci only when the lockfile changes). The stamps live inside what they stand for, so
# deleting frontend/out or frontend/node_modules rebuilds it.
FRONTEND := frontend
FRONTEND_BUILT := $(FRONTEND)/out/.built
FRONTEND_DEPS := $(FRONTEND)/node_modules/.installed
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src $(FRONTEND)/public -type f -not -path '$(FRONTEND)/src/gql/*' 2>/dev/null) \
	$(addprefix $(FRONTEND)/,package.json package-lock.json next.config.ts codegen.ts tsconfig.json) schema.graphql
# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: run test install lint schema bench clean frontend frontend-test chromium

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || (echo "Python 3.11+ is required" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(FRONTEND_DEPS): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20 or newer is needed to build the portals (frontend/)" >&2; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' \
		|| { echo "Node.js 20 or newer is needed to build the portals; this is $$(node --version)" >&2; exit 1; }
	cd $(FRONTEND) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(FRONTEND_BUILT): $(FRONTEND_DEPS) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && npm run build --silent
	touch $@

frontend: $(FRONTEND_BUILT)

# The frontend's own logic (src/lib: money and dates by Intl, forms, roles, …) under vitest: about two seconds.
frontend-test: $(FRONTEND_DEPS)
	cd $(FRONTEND) && npx --no-install vitest run --reporter=dot

chromium:
	@if ! test -x "$(CHROMIUM)"; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser tests (tests/e2e)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests (tests/e2e) need Chromium at $(CHROMIUM): install it (Debian/Ubuntu:" \
				"sudo apt-get install chromium) or run make test CHROMIUM=/path/to/chromium" >&2; exit 1; \
		fi; \
	fi
	@test -x "$(CHROMIUM)" || { echo "Chromium is still missing at $(CHROMIUM)" >&2; exit 1; }

# `make run DEMO=1` loads the demo tenant first (once: a second time it says so and changes nothing).
run: install frontend
	@if [ "$(DEMO)" = "1" ]; then $(BIN)/valueverse demo; fi
	$(BIN)/valueverse serve --local-org

test: install frontend chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(MAKE) --no-print-directory frontend-test
	$(BIN)/pytest

# The layers (import-linter contracts in pyproject.toml) and types of domain/ and services/ (mypy).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

schema: install
	$(BIN)/valueverse export-schema -o schema.graphql

clean:
	rm -rf $(VENV) *.egg-info $(FRONTEND)/out $(FRONTEND)/.next $(FRONTEND)/node_modules $(FRONTEND)/src/gql
