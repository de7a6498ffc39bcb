# Optional aliases for those who have `just` installed: every recipe is an npm script (`npm run <name>`),
# which is what the README, CI and the docs use. cert-renew does not depend on just.
set shell := ["bash", "-euo", "pipefail", "-c"]

# list the recipes
default:
    @just --list

# compile TypeScript to dist/, the manifest schema to a standalone validator (scripts/compile-schema.mjs), then bundle the CLI into dist/bundle/cli.cjs (scripts/bundle.mjs)
build:
    npm run build

# install the test servers when missing (redis-server, pebble, nginx, bind9, PowerDNS, step-ca's Go sources, promtool, …)
setup:
    npm run setup

# the whole suite, against real servers started by the tests
test:
    npm test

# only the fast unit tests (no servers)
test-unit:
    npm run test:unit

# type-check, lint and format-check
lint:
    npm run lint

# rewrite files to the project's format
fmt:
    npm run fmt

# the main job on the bundled quickstart manifest (filesystem store under ./certs, local CA)
demo:
    npm run demo

# benchmarks; results land under bench/results/
bench:
    npm run bench
