// SPDX-License-Identifier: Apache-2.0

package core

import (
	"bytes"
	"os"
	"strconv"
)

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// ppidOf reads the parent of pid from /proc/PID/stat, whose command name
// may hold spaces and parentheses: the fields resume after the last ')'.
func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	return atoiOr(string(f[1]), 0)
}
