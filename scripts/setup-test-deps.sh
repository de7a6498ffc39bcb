#!/bin/sh
# Installs what the test suite needs when it is missing: the real servers the tests start (redis-server,
# pebble + pebble-challtestsrv, nginx), openssl, certbot (the benchmark's baseline and
# `import certbot`'s test), lego (`import lego`'s test), promtool (checks the
# shipped alerting rules), Go with step-ca's sources (built by scripts/build-step-ca.sh), BIND (named, and
# nsupdate, which the rfc2136 dns-01 provider runs) and PowerDNS with its sqlite3 backend.
# Debian/Ubuntu only (apt-get).
#
# Idempotent and quick when everything is present. Installing needs root (or passwordless sudo); the
# system services the packages start are stopped and disabled again: the tests start their own servers
# on free ports and must not meet a redis on 6379 or an nginx on 80 by surprise.
set -eu

cd "$(dirname "$0")/.."

# "command  package" pairs; nginx lives in sbin, which is not on a normal user's PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
commands='redis-server:redis-server redis-cli:redis-tools pebble:pebble pebble-challtestsrv:pebble
nginx:nginx-light go:golang-go openssl:openssl certbot:certbot lego:lego ps:procps promtool:prometheus
named:bind9 nsupdate:bind9-dnsutils pdns_server:pdns-server
sqlite3:sqlite3'
dpkg_only='golang-github-smallstep-certificates-dev ca-certificates pdns-backend-sqlite3'

missing=''
for pair in $commands; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1; then
    case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
  fi
done
if command -v dpkg >/dev/null 2>&1; then
  for pkg in $dpkg_only; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then missing="$missing $pkg"; fi
  done
fi
missing=${missing# }

if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=''
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as_root='sudo'
  else
    echo "setup-test-deps: missing Debian packages; as root run: apt-get update && apt-get install -y --no-install-recommends $missing" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-test-deps: missing packages ($missing) and no apt-get to install them; install them by hand" >&2
    exit 1
  fi
  echo "setup-test-deps: installing $missing"
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
  # shellcheck disable=SC2086
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing </dev/null
  # Stop and disable the services the packages just started (only those: a service that was already
  # installed is the machine owner's business).
  for pkg in $missing; do
    case "$pkg" in
      redis-server) service=redis-server ;;
      nginx-light) service=nginx ;;
      prometheus) service=prometheus ;;
      bind9) service=named ;;
      pdns-server) service=pdns ;;
      *) continue ;;
    esac
    $as_root service "$service" stop >/dev/null 2>&1 || true
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
else
  echo "setup-test-deps: all test dependencies present"
fi

# The tests run named from a temporary directory; Ubuntu's AppArmor profile for named confines it to
# /etc/bind and /var/cache/bind and would deny that. Where the profile is loaded, unload it (until the
# next reboot or profile reload); nothing to do where AppArmor is off.
if [ -e /sys/kernel/security/apparmor/profiles ] && grep -q '/usr/sbin/named' /sys/kernel/security/apparmor/profiles 2>/dev/null \
  && [ -f /etc/apparmor.d/usr.sbin.named ] && command -v apparmor_parser >/dev/null 2>&1; then
  echo "setup-test-deps: unloading the AppArmor profile of named so the tests can run it from a temporary directory"
  if [ "$(id -u)" -eq 0 ]; then apparmor_parser -R /etc/apparmor.d/usr.sbin.named || true
  else sudo -n apparmor_parser -R /etc/apparmor.d/usr.sbin.named || true; fi
fi

if [ -f scripts/build-step-ca.sh ]; then
  bash scripts/build-step-ca.sh
fi
