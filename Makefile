# Every target runs with the project's own Node 24 (node_modules/.bin/node, installed by `make install`),
# whatever node the machine has.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
JEST := node --experimental-vm-modules node_modules/jest/bin/jest.js

.PHONY: install build lint format test test-unit test-e2e controlplane demo bench clean

# Install when the lock file changed since the last install. `npm install` (not `npm ci`): the
# registry mirror lacks some other platforms' optional binaries (e.g. @unrs/resolver-binding-*),
# which `npm ci` refuses as an out-of-sync lock; `npm install` keeps the committed lock unchanged.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund
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

controlplane:
	bash e2e/controlplane/build.sh

test-e2e: build controlplane
	$(JEST) --selectProjects e2e --runInBand

test: test-unit test-e2e

demo: build controlplane
	node dist/e2e/demo/main.js

bench: build
	node --expose-gc dist/bench/run.js

clean:
	rm -rf dist
