#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install client/python into a throw-away venv (Debian's python3 with its
# python3-msgpack, no network) and run its tests against a real tacetd.
#
#   client/python/run_tests.sh            # from anywhere in the checkout
#   TACETD_BIN=bin/tacetd client/python/run_tests.sh
#
# Without TACETD_BIN the tests build ./cmd/tacetd with go into a temp dir.
# Needs python3-venv, python3-setuptools, python3-msgpack (apt-get install -y ...).
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

"$PY" -m venv --system-site-packages "$tmp/venv"
# Copy the source so that the build leaves nothing (build/, *.egg-info) in the checkout.
mkdir "$tmp/src"
cp -r "$here/pyproject.toml" "$here/README.md" "$here/tacet" "$tmp/src/"
"$tmp/venv/bin/pip" install --quiet --no-build-isolation --no-index --no-deps "$tmp/src"
# The installed package, not the checkout, is what the tests import.
cd "$tmp"
"$tmp/venv/bin/python" -c 'import tacet, msgpack; print("tacet", tacet.__version__, "from", tacet.__file__, "msgpack", msgpack.version)'
"$tmp/venv/bin/python" -m unittest discover -v -s "$here/tests" -t "$here/tests"
