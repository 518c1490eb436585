#!/usr/bin/env bash
# deps.sh installs what the tests and linters need, and does nothing when
# it is all there already, so every CI job can start with it.
#
# Debian packages come from apt (root only, no sudo). Go tools are built
# with the local toolchain into TOOLBIN, pinned, and rebuilt only when the
# version or the Go release they were built with changes.
set -euo pipefail

TOOLBIN=${TOOLBIN:?TOOLBIN must name the tool directory}
APT_PACKAGES=${APT_PACKAGES:-python3-msgpack python3-pytest python3-venv python3-setuptools iproute2 rsync nftables openssh-server openssh-client gcc pdsh clustershell supervisor}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
GO=${GO:-go}

installed() {
	dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

apt_deps() {
	if ! command -v dpkg >/dev/null; then
		echo "deps: no dpkg here; install by hand: $APT_PACKAGES" >&2
		return 0
	fi

	local missing=() p
	for p in $APT_PACKAGES; do
		installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "deps: Debian packages present"
		return 0
	fi

	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${missing[*]}" >&2
		echo "deps: run 'make deps' as root, or: apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
}

# go_tool NAME PKG VERSION installs PKG@VERSION as TOOLBIN/NAME unless the
# binary there already has that version and the current Go release.
go_tool() {
	local name=$1 pkg=$2 version=$3 bin=$TOOLBIN/$1 info goversion
	goversion=$($GO env GOVERSION)
	if [ -x "$bin" ] && info=$($GO version -m "$bin" 2>/dev/null) &&
		grep -q "^$bin: $goversion\$" <<<"$info" &&
		grep -Eq "^[[:space:]]+mod[[:space:]].*[[:space:]]$version([[:space:]]|\$)" <<<"$info"; then
		echo "deps: $name $version present"
		return 0
	fi
	echo "deps: go install $pkg@$version"
	mkdir -p "$TOOLBIN"
	GOBIN=$TOOLBIN GOFLAGS='' $GO install "$pkg@$version"
}

apt_deps
go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
