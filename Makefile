# Every target runs with the project's own Node 24 (node_modules/.bin/node, installed by `make install`),
# whatever node the machine has.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
JEST := node --experimental-vm-modules node_modules/jest/bin/jest.js

.PHONY: install build lint format test test-unit test-e2e controlplane demo bench bench-scale chaos clean

# Install when the lock file changed since the last install. `npm ci`: exactly the committed lock,
# which never rewrites it (the lock lists every platform's optional binaries, e.g.
# @unrs/resolver-binding-*, as npm writes it; npm installs only this platform's).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: node_modules/.installed

build: install
	tsc -p tsconfig.json

lint: install
	eslint .
	prettier --check .

format: install
	prettier --write .

test-unit: build
	$(JEST) --selectProjects unit

# The control plane and the Prometheus the monitoring tests use (both cached outside the repo).
controlplane:
	bash e2e/controlplane/build.sh
	bash e2e/controlplane/build-prometheus.sh

test-e2e: build controlplane
	$(JEST) --selectProjects e2e --runInBand

# What CI runs (.ci/run) and `npm test`: lint, unit tests, e2e suites.
test: lint test-unit test-e2e

demo: build controlplane
	node dist/e2e/demo/main.js

bench: build
	node --expose-gc dist/bench/run.js

# The operator measured from the outside on the real control plane (not part of `make test`; takes
# minutes at small sizes). Sizes and parts are flags: make bench-scale ARGS="--help".
ARGS ?=
bench-scale: build controlplane
	node dist/bench/scale/main.js $(ARGS)

# Fault injection on the real control plane (not part of `make test`): operator SIGKILLs, TiCDC
# faults, API server/etcd outages and cluster operations during drained rollouts; one table, exit
# code 1 when an invariant breaks. The short run takes ~15 min; make chaos ARGS="--long" (or --help).
chaos: build controlplane
	node dist/chaos/main.js $(ARGS)

clean:
	rm -rf dist
