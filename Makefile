# ticket-store: every developer task is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
BUF := node_modules/.bin/buf
PROTO_FILES := $(shell find proto -name '*.proto')

.PHONY: help install deps proto check lint typecheck test unit fuzz chaos dev dev-keys bench k8s-check clean web web-check web-test

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

install: deps proto  ## install everything a fresh machine lacks, then generate code

deps:  ## system servers (apt), Python deps (uv, from uv.lock), build tools (npm)
	@scripts/install-deps.sh

proto: ticketstore/.stamp  ## generate the typed `ticketstore` package from proto/

ticketstore/.stamp: $(PROTO_FILES) uv.lock
	rm -rf ticketstore
	$(PY) -m grpc_tools.protoc -Iproto \
		--python_out=. --grpc_python_out=. \
		--plugin=protoc-gen-mypy=.venv/bin/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=.venv/bin/protoc-gen-mypy_grpc \
		--mypy_out=. --mypy_grpc_out=. \
		$(PROTO_FILES)
	find ticketstore -type d -exec touch {}/__init__.py \;
	touch $@

check: install lint typecheck web-check  ## ruff, import rules (lint-imports), mypy --strict, buf lint, the web client's eslint + tsc + codegen drift
lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	cd proto && ../$(BUF) lint && ../$(BUF) format -d --exit-code
typecheck:  ## mypy: --strict on the source, every def typed in the tests (pyproject [tool.mypy])
	.venv/bin/mypy common auth_svc tickets_svc orders_svc payments_svc expiration_svc gateway tests

test: install web web-test  ## every test (the web client's Vitest, then pytest incl. the browser tests)
	$(PY) -m pytest -q

unit: proto  ## the unit tests only: no server, no process, no socket (seconds)
	$(PY) -m pytest -m unit -q

fuzz: proto  ## the long fuzz run: hypothesis-graphql over the gateway, hypothesis over every gRPC request (FUZZ_EXAMPLES=5000 each, FUZZ_SECONDS=120 per operation)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} FUZZ_SECONDS=$${FUZZ_SECONDS:-120} $(PY) -m pytest -q -s -o timeout=900 \
		gateway/tests/test_fuzz.py gateway/tests/test_fuzz_grpc.py

chaos: install  ## the chaos run: purchases through the gateway while processes die and servers go away (CHAOS_SEED= replays)
	$(PY) -m tests.chaos

dev: install web  ## start the servers, every service and the gateway (Ctrl-C stops them)
	$(PY) -m common.devstack

dev-keys: install  ## only create the development JWT key pair in .dev/keys (make dev does it too)
	$(PY) -m common.firstrun

# The web client (web/): npm packages from web/package-lock.json when missing or outdated.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-fund --no-audit

web: web/node_modules/.package-lock.json  ## build the web client: codegen, then vite build into web/dist
	cd web && npm run build

web-check: web/node_modules/.package-lock.json  ## web client: eslint, tsc, generated code and manifest up to date
	cd web && npm run lint && npm run typecheck && npm run codegen:check

web-test: web/node_modules/.package-lock.json  ## web client unit tests (Vitest)
	cd web && npm test

k8s-check:  ## build every k8s overlay and validate it offline (kustomize + kubernetes-validate)
	$(PY) -m pytest tests/k8s -q

bench: install  ## run the benchmarks and write docs/BENCHMARKS.md
	$(PY) -m tests.bench

clean:  ## remove generated code and local dev data
	rm -rf ticketstore .dev .mypy_cache .ruff_cache .pytest_cache .import_linter_cache web/dist
