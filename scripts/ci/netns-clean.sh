#!/usr/bin/env bash
# netns-clean.sh [PREFIX] deletes the network namespaces and links that
# tacet tests create: names starting with "tacet-" or with PREFIX (the
# TACET_NETNS_PREFIX of a run). Nothing else is touched.
set -euo pipefail

prefix=${1:-}

ours() {
	case "$1" in tacet-*) return 0 ;; esac
	[ -n "$prefix" ] && [[ "$1" == "$prefix"* ]]
}

if ! command -v ip >/dev/null; then
	echo "netns-clean: skipped: no ip command (install iproute2)"
	exit 0
fi

n=0
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
	ours "$ns" || continue
	ip netns del "$ns" && n=$((n + 1))
done

# `ip -o link` prints "IDX: NAME[@PEER]: ..."; deleting one end of a veth
# pair removes the other, so a second delete may find nothing.
for link in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
	ours "$link" || continue
	ip link del "$link" 2>/dev/null && n=$((n + 1))
done
echo "netns-clean: deleted $n namespaces and links (tacet-*${prefix:+, $prefix*})"
