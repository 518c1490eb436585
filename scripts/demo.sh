#!/usr/bin/env bash
# A small experiment driven through the real protocol: a local tacetd on
# loopback with a key and state directory made for this run, and the
# tacet command line as its controller. Run by `make demo`.
set -u
bin=${BIN:-bin}
work=$(mktemp -d /tmp/tacet-demo.XXXXXX)
port=${PORT:-17340}
daemon=

cleanup() {
	if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
		kill -TERM "$daemon"
		wait "$daemon"
		echo "== tacetd stopped (exit status $?)"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

# expect notes a status that is not the one the step should give; the
# demo fails at the end if any step surprised it.
surprises=0
expect() {
	if [ "$1" -ne "$2" ]; then
		echo "demo: expected status $2, got $1" >&2
		surprises=$((surprises + 1))
	fi
}

"$bin/tacet" keygen "$work/key" >/dev/null
"$bin/tacetd" --listen "tcp://127.0.0.1:$port" --listen "unix://$work/run/tacetd.sock" \
	--key-file "$work/key" --state-dir "$work/state" 2>"$work/tacetd.log" &
daemon=$!

t=("$bin/tacet" -w "tcp://127.0.0.1:$port" --key-file "$work/key")
for _ in $(seq 50); do
	"${t[@]}" info >/dev/null 2>&1 && break
	sleep 0.1
done
step "tacetd is up: $(head -1 "$work/tacetd.log")"
"${t[@]}" info

step "a process that succeeds with output"
"${t[@]}" run --keep -- sh -c 'echo "hello from $(hostname)"; echo "to stderr" >&2; exit 0'
st=$?; echo "tacet run exited $st"; expect $st 0

step "a process that fails to spawn: the step and errno are reported, not exit 127"
"${t[@]}" run --keep -- /nonexistent/program
st=$?; echo "tacet run exited $st (125: spawn error)"; expect $st 125

step "a process killed by its timeout: SIGTERM after 1 s, SIGKILL after the grace period"
"${t[@]}" run --keep --timeout 1s -- sh -c 'echo "sleeping 30 s"; sleep 30'
st=$?; echo "tacet run exited $st (128+15)"; expect $st 143

step "a process tree killed as a whole, including a member that called setsid"
id=$("${t[@]}" start -- sh -c 'sleep 300 & setsid sleep 300 & wait')
sleep 0.3
"${t[@]}" ps
"${t[@]}" kill -s KILL "$id"
"${t[@]}" wait "$id"
st=$?; echo "tacet wait exited $st (128+9)"; expect $st 137

step "exit reports, as JSON: status, rusage, cgroup usage and both clocks"
for id in $("${t[@]}" --json ps | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'); do
	"${t[@]}" --json wait "$id"
done

[ "$surprises" -eq 0 ]
