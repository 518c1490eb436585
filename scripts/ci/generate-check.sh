#!/usr/bin/env bash
# generate-check.sh DIR... runs `go generate ./...` and fails if that
# changes any file under the given directories, printing the diff.
#
# It compares against a copy taken just before generating rather than
# against git, so work in progress in a dirty tree is not reported as
# stale generated code; on a clean checkout the two are the same.
set -euo pipefail

dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(codec)
TOOLBIN=${TOOLBIN:-$PWD/.bin}
GO=${GO:-go}

present=()
for d in "${dirs[@]}"; do
	[ -d "$d" ] && present+=("$d")
done
if [ ${#present[@]} -eq 0 ]; then
	echo "generate-check: skipped: none of ${dirs[*]} exists yet"
	exit 0
fi

snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
for d in "${present[@]}"; do
	mkdir -p "$snap/$(dirname "$d")"
	cp -a "$d" "$snap/$d"
done

echo "generate-check: go generate ./..."
PATH=$TOOLBIN:$PATH $GO generate ./...

changed=0
for d in "${present[@]}"; do
	if ! diff -ruN "$snap/$d" "$d" >"$snap/diff" 2>&1; then
		changed=1
		# Show paths relative to the tree, not to the snapshot.
		sed "s|$snap/||" "$snap/diff"
	fi
done
if [ $changed -ne 0 ]; then
	echo "generate-check: FAIL: go generate changed the files above;" \
		"run 'go generate ./...' and commit the result" >&2
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git status --porcelain --untracked-files=all -- "${present[@]}" >&2
	fi
	exit 1
fi
echo "generate-check: ok: generated files under ${present[*]} are up to date"
