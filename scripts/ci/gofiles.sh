#!/usr/bin/env bash
# gofiles.sh lists the Go files that gofmt must accept: tracked files and
# new files git does not ignore, without testdata/. It lists files, not
# ./... directories, so copies of the tree that gitlab-ci-local keeps under
# .gitlab-ci-local/ are not checked twice.
set -euo pipefail

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard -- '*.go'
else
	find . -name '.?*' -prune -o -name '*.go' -print0
fi | while IFS= read -r -d '' f; do
	case "/$f" in */testdata/*) continue ;; esac
	# A tracked file deleted in the work tree is still in the index.
	[ -f "$f" ] && printf '%s\n' "$f"
done
