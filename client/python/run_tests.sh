#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install client/python into a throw-away venv (Debian's python3 with its
# python3-msgpack, no network) and run its tests against a real tacetd.
#
#   client/python/run_tests.sh            # from anywhere in the checkout
#   TACETD_BIN=bin/tacetd client/python/run_tests.sh
#
# Without TACETD_BIN the tests build ./cmd/tacetd with go into a temp dir.
# Needs python3-venv, python3-setuptools, python3-msgpack and python3-pytest
# (Debian's pytest, visible in the venv through --system-site-packages);
# as root, a missing python3-pytest is installed with apt-get.
# Extra arguments go to pytest, e.g. -k follow or -x.
# Exits non-zero if the install or any test fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tacet-py.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -n "${TACETD_BIN:-}" ]; then
	TACETD_BIN=$(cd "$(dirname "$TACETD_BIN")" && pwd)/$(basename "$TACETD_BIN")
	export TACETD_BIN
fi

if ! "$PY" -c 'import pytest' 2>/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "run_tests.sh: installing python3-pytest" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pytest >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pytest >&2; }
	fi
	if ! "$PY" -c 'import pytest' 2>/dev/null; then
		echo "run_tests.sh: $PY has no pytest: apt-get install -y python3-pytest (as root)" >&2
		exit 2
	fi
fi

"$PY" -m venv --system-site-packages "$tmp/venv"
# Copy the source so that the build leaves nothing (build/, *.egg-info) in the checkout.
mkdir "$tmp/src"
cp -r "$here/pyproject.toml" "$here/README.md" "$here/tacet" "$tmp/src/"
"$tmp/venv/bin/pip" install --quiet --no-build-isolation --no-index --no-deps "$tmp/src"
# The installed package, not the checkout, is what the tests import.
cd "$tmp"
"$tmp/venv/bin/python" -c 'import tacet, msgpack; print("tacet", tacet.__version__, "from", tacet.__file__, "msgpack", msgpack.version)'
# -p no:cacheprovider: write no .pytest_cache into the checkout.
"$tmp/venv/bin/python" -m pytest -v -p no:cacheprovider -o faulthandler_timeout=60 \
	--rootdir "$here/tests" --durations=5 "$@" "$here/tests"
