# The two commands a newcomer runs: `make serve` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-unit test-integration test-models soak soak-ci check lint bench clean sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# replicate-stainless installs into the same `replicate/` package folder as replicate==1.0.7,
# so its tests drive it from a virtualenv of its own.
STAINLESS := .venv-stainless/.installed
$(STAINLESS):
	$(PYTHON) -m venv .venv-stainless
	.venv-stainless/bin/python -m pip install --quiet 'replicate-stainless==0.6.0' packaging
	touch $(STAINLESS)

# The npm `replicate` client, for the JS client tests (Node.js from the machine).
NODE_CLIENT := tests/js/node_modules/.package-lock.json
$(NODE_CLIENT): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

# bubblewrap sandboxes pushed models (docs/security.md); installed from Debian when missing.
# Without it (no apt, not root) `serve` still runs, warning loudly that models run unsandboxed.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else echo "warning: bubblewrap is not installed; models will run unsandboxed" >&2; fi; }

serve: $(STAMP) sandbox
	$(BIN)/modelyard serve

test: $(STAMP) $(STAINLESS) $(NODE_CLIENT) sandbox
	$(BIN)/python -m pytest tests -q -m "not soak"

# Lint, format check and `mypy --strict` (its settings are [tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

check: lint
	$(BIN)/python -m pytest tests -q

# The built-in catalog's real models (torch environments, a first build takes minutes).
test-models: $(STAMP) sandbox
	$(BIN)/python -m pytest tests/models_catalog -m models -q

# The soak: predictions of every kind under cancels and SIGKILLed model instances, against a
# real `modelyard serve`. SOAK_PREDICTIONS sets the size, SOAK_SEED replays a run's plan.
soak-ci: $(STAMP) sandbox
	$(BIN)/python -m pytest tests/soak -m soak -q -s

soak: $(STAMP) sandbox
	SOAK_PREDICTIONS=$${SOAK_PREDICTIONS:-5000} $(BIN)/python -m pytest tests/soak -m soak -q -s

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.catalog
	$(BIN)/python -m bench.coldstart

clean:
	rm -rf $(VENV) .venv-stainless .modelyard
