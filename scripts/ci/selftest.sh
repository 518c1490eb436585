#!/usr/bin/env bash
# selftest.sh checks that CI catches what it claims to catch. On a scratch
# copy of the tree it first runs lint and generate-check, which must pass,
# then plants one fault at a time and runs the job meant to catch it:
#
#	(a) a gofmt violation        make lint
#	(b) a go vet error           make lint
#	(c) a failing test           make unit PKGS=<that package>
#	(d) a stale msgp file        make generate-check
#
# A fault counts as caught only if the job fails and its output names the
# fault, so a job that fails for some other reason does not hide a gap.
# It prints a table and exits 1 if anything was not caught.
set -euo pipefail

GO=${GO:-go}
src=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/tacet-selftest.XXXXXX")
logs=$work.logs
mkdir -p "$logs"
trap 'rm -rf "$work" "$logs"' EXIT
# Sub-makes must not inherit this make's command-line variables (PKGS...).
unset MAKEFLAGS MFLAGS MAKELEVEL

rows=()
failed=0

# row FAULT JOB RESULT records a line of the table; RESULT is yes, no,
# passes or a FAIL message, and anything but yes or passes fails the run.
row() {
	rows+=("$(printf '%-28s %-30s %s' "$1" "$2" "$3")")
	case "$3" in yes | passes) ;; *) failed=1 ;; esac
}

copy_tree() {
	if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
			(cd "$src" && while IFS= read -r -d '' f; do
				[ -e "$f" ] && printf '%s\0' "$f"
			done) |
			rsync -a --from0 --files-from=- "$src/" "$work/"
	else
		rsync -a --exclude='/.git' --exclude='/.gitlab-ci-local' \
			--exclude='/.bin' --exclude='/bin' --exclude='/bin-race' \
			--exclude='/bench/out' "$src/" "$work/"
	fi
}

# job LOG ARGS... runs make ARGS in the copy, keeping its output in LOG.
job() {
	local log=$logs/$1
	shift
	echo "ci-selftest: make $*" >&2
	make -C "$work" --no-print-directory "$@" >"$log" 2>&1
}

# caught FAULT JOB LOG MARKER STATUS: the job must have failed (STATUS
# non-zero) and printed MARKER.
caught() {
	local fault=$1 jobname=$2 log=$logs/$3 marker=$4 status=$5
	if [ "$status" -ne 0 ] && grep -qF -- "$marker" "$log"; then
		echo "ci-selftest: $fault: $(grep -F -m 1 -- "$marker" "$log")" >&2
		row "$fault" "$jobname" yes
		return
	fi
	row "$fault" "$jobname" no
	echo "ci-selftest: $fault was not caught by $jobname (exit $status," \
		"looked for \"$marker\"); last lines:" >&2
	tail -n 30 "$log" >&2
}

# clean_check TARGET: make TARGET must pass on the unchanged copy.
clean_check() {
	local status=0
	job "clean-$1" "$1" || status=$?
	if [ $status -eq 0 ]; then
		row "none (clean copy)" "make $1" passes
		return
	fi
	row "none (clean copy)" "make $1" "FAIL: exit $status"
	tail -n 30 "$logs/clean-$1" >&2
}

reset_tree() {
	git -C "$work" reset -q --hard
	git -C "$work" clean -fdq
}

# Pick the package to plant faults in: the first one with Go files. With no
# package yet, add one, so the lint and test faults can still be checked.
pick_package() {
	local dir name file
	read -r dir name file < <($GO list -e -f \
		'{{if .GoFiles}}{{.Dir}} {{.Name}} {{index .GoFiles 0}}{{end}}' ./... 2>/dev/null |
		grep -v '^$' | head -n 1) || true
	if [ -z "${dir:-}" ]; then
		mkdir -p ciselftest
		printf '// Package ciselftest exists only in ci-selftest copies.\npackage ciselftest\n' >ciselftest/doc.go
		dir=$work/ciselftest name=ciselftest file=doc.go
	fi
	pkg_rel=.${dir#"$work"}
	pkg_name=$name
	pkg_file=${pkg_rel#./}/$file
}

# stale_target finds a struct with msgp-generated methods in a directory of
# codec/ that has a //go:generate line, and prints "FILE TYPE".
stale_target() {
	local gen dir types t f
	for gen in $(grep -rl --include='*.go' '^//go:generate' codec 2>/dev/null | grep -v '_gen\.go$' || true); do
		dir=$(dirname "$gen")
		types=$(sed -nE 's/^func \(z \*?([A-Za-z0-9_]+)\) (DecodeMsg|UnmarshalMsg|EncodeMsg|MarshalMsg)\(.*/\1/p' \
			"$dir"/*_gen.go 2>/dev/null | sort -u)
		for t in $types; do
			for f in "$dir"/*.go; do
				case "$f" in *_gen.go | *_test.go) continue ;; esac
				if grep -qE "^type $t struct \{\$" "$f"; then
					echo "$f $t"
					return
				fi
			done
		done
	done
}

copy_tree
cd "$work"
pick_package
git init -q
git add -A
git -c user.name=ci-selftest -c user.email=ci-selftest@localhost commit -qm base --no-verify

clean_check lint
clean_check generate-check
reset_tree

# (a) Spaces gofmt would remove, appended to a file of the package.
printf '\nfunc  ciSelftestGofmt( ) {}\n' >>"$pkg_file"
status=0
job a lint PKGS="$pkg_rel" || status=$?
caught "(a) gofmt violation" "make lint" a "$pkg_file" $status
reset_tree

# (b) A Printf verb that does not match its argument, in a new file.
cat >"$pkg_rel/zz_ciselftest_vet.go" <<EOF
package $pkg_name

import "fmt"

func ciSelftestVet() string { return fmt.Sprintf("%d", "not a number") }
EOF
status=0
job b lint PKGS="$pkg_rel" || status=$?
caught "(b) go vet error" "make lint" b "zz_ciselftest_vet.go" $status
reset_tree

# (c) A test that always fails, in a new file.
cat >"$pkg_rel/zz_ciselftest_fail_test.go" <<EOF
package $pkg_name

import "testing"

func TestCISelftestInjectedFailure(t *testing.T) {
	t.Fatal("ci-selftest: injected failure")
}
EOF
status=0
job c unit PKGS="$pkg_rel" || status=$?
caught "(c) failing test" "make unit PKGS=$pkg_rel" c "ci-selftest: injected failure" $status
reset_tree

# (d) A new field in a msgp struct, without regenerating its code.
read -r stale_file stale_type < <(stale_target) || true
if [ -z "${stale_file:-}" ]; then
	echo "ci-selftest: FAIL: no struct with msgp-generated code under a //go:generate line in codec/" >&2
	row "(d) stale generated file" "make generate-check" "FAIL: no //go:generate msgp struct in codec/"
else
	sed -i -E "/^type $stale_type struct \{\$/a\\
	CISelftestStale int64 \`msg:\"ci_selftest_stale\"\`" "$stale_file"
	status=0
	job d generate-check || status=$?
	caught "(d) stale generated file" "make generate-check" d "CISelftestStale" $status
	reset_tree
fi

echo
printf '%-28s %-30s %s\n' "fault" "job" "caught"
printf '%s\n' "${rows[@]}"
if [ $failed -ne 0 ]; then
	echo "ci-selftest: FAIL: a check did not behave as expected (see above)" >&2
	exit 1
fi
echo "ci-selftest: ok: every planted fault was caught"
