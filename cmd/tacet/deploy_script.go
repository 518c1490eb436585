// SPDX-License-Identifier: Apache-2.0

package main

// The scripts deploy and undeploy run on each host with sh -c. They need
// only sh, coreutils (sha256sum, cat, readlink), sed and setsid, and
// they print what the controller must know as key=value lines on stdout;
// an error is one line on stderr and a non-zero exit.
//
// On a host, a deployment lives under a base directory, ~/.tacet, or
// /tmp/tacet-$USER when the home is not writable:
//
//	bin/tacetd-SHA256          the daemon, named by its content, shared
//	state-ID/key               the deployment's key, mode 0600
//	state-ID/tacetd.pid        the daemon's PID
//	state-ID/tacetd.log        its stdout and stderr
//	state-ID/binary            the path of the binary it was started from
//	state-ID/daemon/           its --state-dir
//
// ID is the deployment's name and the host as written in -w, so that
// several aliases of one machine, as in the tests, do not collide.

// shLib defines running, which reports whether the daemon of state dir
// $1 is alive and sets pid and exe. A zombie is not alive, and neither is
// a PID reused by a process that is not a tacetd of ours.
const shLib = `
running() {
	pid=$(cat "$1/tacetd.pid" 2>/dev/null) || return 1
	case $pid in ''|*[!0-9]*) return 1;; esac
	[ -r "/proc/$pid/stat" ] || return 1
	[ "$(sed 's/^.*) //' "/proc/$pid/stat" | cut -c1)" != Z ] || return 1
	exe=$(readlink "/proc/$pid/exe") || return 1
	exe=${exe% (deleted)}
	case $exe in */bin/tacetd-*) return 0;; esac
	return 1
}
`

// probeScript ($1 ID, $2 hash) picks the base directory and says whether
// the binary is there and whether the daemon runs.
const probeScript = shLib + `
id=$1 hash=$2
base=$HOME/.tacet
if ! mkdir -p "$base/bin" 2>/dev/null || ! [ -w "$base/bin" ]; then
	base=/tmp/tacet-$(id -un)
	mkdir -p "$base/bin" && chmod 700 "$base" || exit 1
fi
echo "base=$base"
bin=$base/bin/tacetd-$hash
if [ -f "$bin" ] && [ "$(sha256sum < "$bin" | cut -d' ' -f1)" = "$hash" ]; then
	echo have=yes
fi
if running "$base/state-$id"; then
	echo "pid=$pid"
	echo "exe=$exe"
fi
`

// copyScript ($1 binary path, $2 hash) writes stdin to the binary. It
// writes a temporary file and renames it, so that two deployments
// copying at once, or a copy cut short, never leave half a binary.
const copyScript = `
umask 077
bin=$1 hash=$2 tmp=$1.tmp.$$
if ! cat > "$tmp"; then rm -f "$tmp"; exit 1; fi
sum=$(sha256sum < "$tmp" | cut -d' ' -f1)
if [ "$sum" != "$hash" ]; then
	rm -f "$tmp"
	echo "copied tacetd has sha256 $sum, want $hash" >&2
	exit 1
fi
chmod 700 "$tmp" && mv -f "$tmp" "$bin"
`

// startScript ($1 base, $2 ID, $3 binary, $4 listen URL) writes stdin to
// the key file and starts the daemon in a session of its own, so that it
// outlives the ssh connection and no hangup reaches it.
const startScript = `
umask 077
st=$1/state-$2 bin=$3 listen=$4
mkdir -p "$st/daemon" || exit 1
if ! { cat > "$st/key.tmp" && chmod 600 "$st/key.tmp" && mv -f "$st/key.tmp" "$st/key"; }; then
	exit 1
fi
echo "$bin" > "$st/binary"
detach=
command -v setsid > /dev/null && detach=setsid
cd /
$detach nohup "$bin" --listen "$listen" --key-file "$st/key" --state-dir "$st/daemon" \
	--on-exit kill < /dev/null >> "$st/tacetd.log" 2>&1 &
echo $! > "$st/tacetd.pid"
echo "pid=$!"
`

// logScript ($1 base, $2 ID) prints the end of the daemon's log, for a
// daemon that did not come up.
const logScript = `tail -n 5 "$1/state-$2/tacetd.log" >&2; exit 1`

// undeployScript ($1 ID, $2 "keep" to keep the state dir) stops the
// daemon, SIGTERM and then SIGKILL after 10 s, and removes the key, the
// pidfile, the state dir and the binary when no other daemon runs it.
// It looks in both base directories, since the home may have become
// writable or not since deploy.
const undeployScript = shLib + `
id=$1 keep=$2 found=
for base in "$HOME/.tacet" "/tmp/tacet-$(id -un)"; do
	st=$base/state-$id
	[ -d "$st" ] || continue
	found=yes
	bin=$(cat "$st/binary" 2>/dev/null)
	if running "$st"; then
		bin=$exe stopped=$pid
		kill -TERM "$pid"
		i=0
		while running "$st" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
		if running "$st"; then
			kill -KILL "$pid"
			echo "killed=$pid"
			while running "$st"; do sleep 0.1; done
		fi
		echo "stopped=$stopped"
	fi
	rm -f "$st/key" "$st/key.tmp" "$st/tacetd.pid" "$st/binary"
	[ "$keep" = keep ] || rm -rf "$st"
	used=
	for other in "$base"/state-*; do
		if running "$other" && [ "$exe" = "$bin" ]; then used=yes; fi
	done
	case $bin in "$base"/bin/tacetd-*) [ -n "$used" ] || rm -f "$bin";; esac
	rmdir "$base/bin" "$base" 2> /dev/null
done
[ -n "$found" ] || echo absent=yes
exit 0
`
