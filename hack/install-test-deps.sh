#!/usr/bin/env bash
# Installs the system packages Assay's tests need and Go cannot build:
# redis-server (Debian's package), which the tests of pkg/cache start as
# their own process. Idempotent: quiet and quick when everything is present.
# `make tools` runs it.
set -euo pipefail

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)

if [ "${#packages[@]}" -eq 0 ]; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: missing ${packages[*]} and apt-get is not available; install them with your package manager" >&2
	exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi
apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

echo "install-test-deps: installing ${packages[*]}"
# Try with the package lists as they are; refresh them only if that fails.
if ! apt_get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
	apt_get update -qq
	apt_get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

command -v redis-server >/dev/null 2>&1 || {
	echo "install-test-deps: redis-server is still not on PATH after installing it" >&2
	exit 1
}
