// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// parseHosts expands -w, a node set (nodeset.go), into addresses, each
// checked by netstack.ParseAddr. An empty list means the local daemon,
// whose address is "".
func parseHosts(s string) ([]string, error) { return selectHosts(s, "", "") }

// selectHosts returns the hosts of -w and --hostfile, less those of -x,
// in the order given and each once.
func selectHosts(w, x, hostFile string) ([]string, error) {
	if strings.TrimSpace(w) == "" && hostFile == "" {
		if x != "" {
			return nil, usagef("-x needs -w or --hostfile")
		}
		return []string{""}, nil
	}
	var hosts []string
	var err error
	if strings.TrimSpace(w) != "" {
		if hosts, err = expandNodeSet(w); err != nil {
			return nil, usagef("-w: " + err.Error())
		}
	}
	if hostFile != "" {
		more, err := readHostFile(hostFile)
		if err != nil {
			return nil, usagef("--hostfile: " + err.Error())
		}
		for _, h := range more {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	if x != "" {
		ex, err := expandNodeSet(x)
		if err != nil {
			return nil, usagef("-x: " + err.Error())
		}
		if hosts = excludeHosts(hosts, ex); len(hosts) == 0 {
			return nil, usagef("-x leaves no host")
		}
	}
	if err := checkAddrs(hosts); err != nil {
		return nil, err
	}
	return hosts, nil
}

// checkAddrs checks that netstack can dial every host.
func checkAddrs(hosts []string) error {
	for _, h := range hosts {
		if _, err := netstack.ParseAddr(h, 0); err != nil {
			return usagef("-w: " + strings.TrimPrefix(err.Error(), "netstack: "))
		}
	}
	return nil
}

// maxCPUs bounds a --cpus list; affinity masks are this wide at most.
const maxCPUs = 1 << 16

// parseCPUs parses a CPU list such as "0-3,6" into sorted, distinct CPU
// numbers, the form of /sys/devices/system/cpu/online and taskset -c.
func parseCPUs(s string) ([]uint16, error) {
	if s == "" {
		return nil, nil
	}
	seen := make(map[uint16]bool)
	var cpus []uint16
	for _, part := range strings.Split(s, ",") {
		lo, hi, err := cpuRange(part)
		if err != nil {
			return nil, usagef(fmt.Sprintf("--cpus %q: %v", s, err))
		}
		for n := lo; n <= hi; n++ {
			if !seen[uint16(n)] {
				seen[uint16(n)] = true
				cpus = append(cpus, uint16(n))
			}
		}
	}
	slices.Sort(cpus)
	return cpus, nil
}

// cpuRange parses "N" or "N-M".
func cpuRange(part string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(part, "-")
	if lo, err = cpuNumber(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = cpuNumber(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q runs backwards", part)
	}
	return lo, hi, nil
}

func cpuNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a CPU number", s)
	}
	if n >= maxCPUs {
		return 0, fmt.Errorf("CPU %d is beyond %d", n, maxCPUs-1)
	}
	return n, nil
}

// parseSignal reads a signal by name ("TERM", "SIGTERM", "term") or
// number.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, usagef(fmt.Sprintf("signal %d is out of range", n))
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, usagef(fmt.Sprintf("unknown signal %q", s))
}

// signalName returns "SIGTERM" for 15, or "signal 99".
func signalName(sig uint8) string {
	if name := unix.SignalName(syscall.Signal(sig)); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(sig))
}

// formatID is how tacet prints a handle: lower-case hex, which is short
// for handles whose top bits come from the daemon instance.
func formatID(h uint64) string { return strconv.FormatUint(h, 16) }

// parseID reads a handle as formatID prints it, with or without "0x".
func parseID(s string) (uint64, error) {
	t := strings.TrimPrefix(strings.ToLower(s), "0x")
	h, err := strconv.ParseUint(t, 16, 64)
	if err != nil || t == "" {
		return 0, usagef(fmt.Sprintf("bad process id %q: want the hex id that start and ps print", s))
	}
	return h, nil
}

// parseStream reads a --stream value.
func parseStream(s string) (uint8, error) {
	switch s {
	case "stdout", "1":
		return codec.Stdout, nil
	case "stderr", "2":
		return codec.Stderr, nil
	case "pty", "3":
		return codec.PTY, nil
	}
	return 0, usagef(fmt.Sprintf("--stream %q: want stdout, stderr or pty", s))
}

func streamName(s uint8) string {
	switch s {
	case codec.Stdout:
		return "stdout"
	case codec.Stderr:
		return "stderr"
	case codec.PTY:
		return "pty"
	}
	return "stream " + strconv.Itoa(int(s))
}

// envList collects repeated --env K=V flags.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not K=V", s)
	}
	*e = append(*e, s)
	return nil
}

// pathList is a repeatable flag of paths.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, " ") }

func (p *pathList) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty path")
	}
	*p = append(*p, s)
	return nil
}
