# Keybroker: `make run` starts the tray app; `make test` is what CI runs (.ci/run).
# The logic lives in scripts/*.sh; this file only names the steps. DESIGN.md §6 describes the rig.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PEER_VENV ?= .venv-peer-agentstack
PACKAGE_VENV ?= .venv-package
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k vault -x"`.
PYTEST_ARGS ?=

export PYTHON VENV PEER_VENV PACKAGE_VENV PYTEST_ARGS

.PHONY: help run test test-bridge-paths lint deps venv clean screenshots package package-test peers bench

help:
	@echo "make run    create $(VENV) if needed, install keybroker, start the tray app"
	@echo "make test   system packages, venvs, lint, pytest against a private Secret Service, the cluster test, the package test (if root/sudo)"
	@echo "make test-cluster  only the three-node OpenBao raft cluster test (leader killed while Keybroker writes)"
	@echo "make test-bridge-paths  tests/bridge and tests/interop on the fast path, the full path (KEYBROKER_BRIDGE_PATH), the fast path on uvloop"
	@echo "make lint   ruff + mypy only"
	@echo "make bench  the app's benchmarks: prompt on screen (Xvfb), start-up and memory, the bridge (~10 min)"
	@echo "make deps   install the system packages the tests need (apt-get; root or sudo -n)"
	@echo "make peers  install the real servers the tests run (OpenBao, LiteLLM, oidc-provider, @a2a-js/sdk 0.3 and 1.x), cached"
	@echo "make clean  remove the venvs and caches"
	@echo "make screenshots  a first run (add an agent, send, answer the prompt, revoke) under Xvfb + trayer, PNGs in docs/screenshots/"
	@echo "make package       the PyInstaller bundle and dist/keybroker_<version>_<arch>.deb (packaging/README.md)"
	@echo "make package-test  build the .deb, install it, run it in a tray, remove it (root or sudo -n)"
	@echo "make release-linux the release workflow's Linux leg: make package, the bundle's --self-test on Xvfb"

run:
	@bash scripts/venv.sh "$(VENV)"
	exec "$(VENV)/bin/keybroker"

test:
	@bash scripts/test.sh

# The three-node OpenBao raft cluster test alone (also a stage of `make test`).
.PHONY: test-cluster
test-cluster:
	@bash scripts/venv.sh "$(VENV)" test
	@bash scripts/peers/openbao.sh
	@VENV="$(VENV)" bash scripts/test-cluster.sh

test-bridge-paths:
	@bash scripts/venv.sh "$(VENV)" test
	@bash scripts/test-bridge-paths.sh all

lint:
	@bash scripts/venv.sh "$(VENV)" test
	@bash scripts/lint.sh

bench:
	@VENV="$(VENV)" bash scripts/bench.sh

deps:
	@bash scripts/system-deps.sh

peers:
	@bash scripts/peers/all.sh

venv:
	@bash scripts/venv.sh "$(VENV)" test

clean:
	rm -rf "$(VENV)" "$(PEER_VENV)" "$(PACKAGE_VENV)" .venv-peer-openbao .venv-peer-litellm .cache/peers .mypy_cache .ruff_cache .pytest_cache build dist
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +

screenshots:
	@bash scripts/venv.sh "$(VENV)"
	PYTHON="$(VENV)/bin/python" bash scripts/screenshots.sh

package:
	@bash scripts/package.sh

package-test:
	@bash scripts/system-deps.sh
	@bash scripts/package-test.sh

# The same script .github/workflows/release.yml runs for its Linux leg (packaging/README.md, "Releases").
.PHONY: release-linux
release-linux:
	@bash scripts/release/linux.sh
