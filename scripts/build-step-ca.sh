#!/bin/sh
# Builds a step-ca server for the integration tests from the Go sources Debian ships
# (packages golang-go and golang-github-smallstep-certificates-dev), offline, in GOPATH mode.
#
# The binary is cached outside the repository and rebuilt only when scripts/step-ca/main.go changes:
#   ${CERT_RENEW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cert-renew}/step-ca/bin/step-ca
# tests/harness/step-ca.ts looks for it at the same place. Prints one line: where the binary is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
source_dir="$here/step-ca"
cache="${CERT_RENEW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cert-renew}/step-ca"
binary="$cache/bin/step-ca"
stamp="$cache/bin/step-ca.source-sha256"
gopath="${STEP_CA_GOPATH:-/usr/share/gocode}"

if ! command -v go >/dev/null 2>&1; then
  echo "build-step-ca: 'go' is not installed (Debian package golang-go)" >&2
  exit 1
fi
if [ ! -d "$gopath/src/github.com/smallstep/certificates" ]; then
  echo "build-step-ca: step-ca sources not found under $gopath (Debian package golang-github-smallstep-certificates-dev)" >&2
  exit 1
fi

hash=$( (cat "$source_dir/main.go"; go version) | sha256sum | cut -d' ' -f1)
up_to_date() {
  [ -x "$binary" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]
}
if up_to_date; then
  echo "step-ca: $binary (up to date)"
  exit 0
fi

mkdir -p "$cache/bin" "$cache/go-build"
# Test files run in parallel and may all call this on a cold cache: one builds, the others wait.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/build.lock"
  flock 9
  if up_to_date; then
    echo "step-ca: $binary (up to date)"
    exit 0
  fi
fi
# Build into a temporary name and rename, so a test never sees half a binary.
cd "$source_dir"
GO111MODULE=off GOPATH="$gopath" GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOCACHE="$cache/go-build" \
  go build -trimpath -ldflags='-s -w' -o "$binary.tmp.$$" .
mv -f "$binary.tmp.$$" "$binary"
printf '%s\n' "$hash" > "$stamp"
echo "step-ca: $binary (built)"
