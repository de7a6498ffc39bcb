# cert-renew tasks. `npx just <recipe>` works after `npm ci` (just comes from the rust-just package).
set shell := ["bash", "-euo", "pipefail", "-c"]

# list the recipes
default:
    @just --list

# compile TypeScript to dist/
build:
    rm -rf dist && npx tsc -p tsconfig.json

# install the test servers when missing (redis-server, pebble, nginx, step-ca's Go sources)
setup:
    bash scripts/setup-test-deps.sh

# the whole suite, against real servers started by the tests
test: setup build
    node --test --test-concurrency=3 dist/tests/

# only the fast unit tests (no servers)
test-unit: build
    node --test dist/tests/unit/

# type-check, lint and format-check
lint:
    npx tsc -p tsconfig.json --noEmit
    npx biome check .

# rewrite files to the project's format
fmt:
    npx biome check --write .

# the main job on the bundled quickstart manifest (filesystem store under ./certs, local CA)
demo: build
    ./bin/cert-renew --manifest examples/quickstart.json run

# benchmarks; results land under bench/results/
bench: build
    node dist/bench/run.js
