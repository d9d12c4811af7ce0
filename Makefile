# The two commands a newcomer runs: `make serve` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-cluster test-deploy test-unit test-integration test-models test-web soak soak-ci check lint bench clean sandbox wrk

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
	$(BIN)/python -m pytest tests -q -m "not soak and not deploy and not cluster"

# Cluster mode (docs/cluster.md): the behaviour suites again against 2 `modelyard api` + 2
# `modelyard worker` processes on this machine's PostgreSQL, their own redis-server and moto's
# S3, then the fault tests (workers and API replicas SIGKILLed, Redis restarted, the leader).
CLUSTER_SUITES := tests/integration/test_python_client.py tests/integration/test_streaming.py \
	tests/integration/test_webhooks.py tests/integration/test_files.py \
	tests/integration/test_deployments.py tests/integration/test_isolation.py \
	tests/integration/test_openai.py tests/integration/test_trainings.py \
	tests/integration/test_compatibility.py tests/integration/test_cli.py \
	tests/integration/test_cog_examples.py tests/integration/test_faults.py \
	tests/integration/test_js_client.py tests/integration/test_stainless_client.py \
	tests/integration/test_models_api.py tests/integration/test_validation_and_push.py \
	tests/integration/test_cluster.py
test-cluster: $(STAMP) sandbox
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else echo "error: redis-server is needed (Debian package redis-server)" >&2; exit 1; fi; }
	$(BIN)/python -m pytest $(CLUSTER_SUITES) -q -m cluster

# Lint, format check and `mypy --strict` (its settings are [tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

check: lint
	$(BIN)/python -m pytest tests -q

# deploy/kustomize: every overlay rendered with `kubectl kustomize` and validated against the
# Kubernetes schemas (kubernetes-validate) and KEDA's CRDs (deploy/schemas). Needs kubectl.
test-deploy: $(STAMP)
	@command -v kubectl >/dev/null 2>&1 || { echo "error: kubectl is needed to render deploy/kustomize (https://kubernetes.io/docs/tasks/tools/)" >&2; exit 1; }
	$(BIN)/python -m pytest tests/deploy -m deploy -q

# The built-in catalog's real models (torch environments, a first build takes minutes).
test-models: $(STAMP) sandbox
	$(BIN)/python -m pytest tests/models_catalog -m models -q

# The web app in a real browser: Debian's chromium (installed when missing, never downloaded by
# Playwright), headless. Screenshots go to WEB_SCREENSHOTS (default .cache/web-screenshots);
# `make test-web WEB_SCREENSHOTS=docs/screenshots` refreshes the README's.
test-web: $(STAMP) sandbox
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "error: chromium is needed (Debian package chromium)" >&2; exit 1; fi; }
	$(BIN)/python -m pytest tests/web -m web -q

# The soak: predictions of every kind under cancels and SIGKILLed model instances, against a
# real `modelyard serve`. SOAK_PREDICTIONS sets the size, SOAK_SEED replays a run's plan.
soak-ci: $(STAMP) sandbox
	$(BIN)/python -m pytest tests/soak -m soak -q -s

soak: $(STAMP) sandbox
	SOAK_PREDICTIONS=$${SOAK_PREDICTIONS:-5000} $(BIN)/python -m pytest tests/soak -m soak -q -s

# wrk drives the hot-path benchmark (bench/wrk.py); installed from Debian when missing.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	  else echo "error: wrk is not installed (Debian package wrk)" >&2; exit 1; fi; }

# Under 10 minutes once the catalog's environments are built; CI never runs it.
bench: $(STAMP) sandbox wrk
	$(BIN)/python -m bench.wrk
	$(BIN)/python -m bench -n 200 --seconds 3
	$(BIN)/python -m bench.catalog --rounds 3
	$(BIN)/python -m bench.coldstart

clean:
	rm -rf $(VENV) .venv-stainless .modelyard
