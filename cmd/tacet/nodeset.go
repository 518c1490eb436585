// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Node sets name many hosts at once, in the notation of ClusterShell and
// pdsh, which is also Slurm's compact form:
//
//	node-[1-32,40]       node-1 … node-32 and node-40
//	node[01-10]          zero-padded: node01 … node10
//	r[1-2]n[1-3]         every combination: r1n1 r1n2 r1n3 r2n1 …
//	10.0.0.[1-8]:7340    a range anywhere in the name, the port included
//	n[1-9/2]             a step: n1 n3 n5 n7 n9
//	[::1]:7340           an IPv6 address: a bracket holding ':' is literal
//	@oar, @slurm         the nodes of the current OAR or Slurm job
//
// Elements are separated by commas outside brackets. A URL
// (tcp://, kcp://, unix://) is one element too; ranges are expanded in it
// like in any other. The result keeps the order written and drops
// repeats.

// maxNodes bounds the hosts one node set may expand to, so that a typo
// such as [1-1000000000] is an error rather than an exhausted memory.
const maxNodes = 1 << 16

// nodeSetError is a node set that cannot be read: Pos is the byte
// offset in Input where Reason applies. It prints Pos+1, a column.
type nodeSetError struct {
	Input  string
	Pos    int
	Reason string
}

func (e *nodeSetError) Error() string {
	return fmt.Sprintf("node set %q: column %d: %s", e.Input, e.Pos+1, e.Reason)
}

// expandNodeSet returns the hosts that s names, in order, each once.
func expandNodeSet(s string) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	for _, el := range splitTop(s) {
		hosts, err := expandElement(s, el)
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
		if len(out) > maxNodes {
			return nil, &nodeSetError{s, el.pos, fmt.Sprintf("more than %d hosts", maxNodes)}
		}
	}
	return out, nil
}

// span is one comma-separated element of a node set and where it starts.
type span struct {
	text string
	pos  int
}

// splitTop splits s at the commas that are not inside brackets. An
// unbalanced bracket is left for expandElement to report.
func splitTop(s string) []span {
	var out []span
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, span{s[start:i], start})
				start = i + 1
			}
		}
	}
	return append(out, span{s[start:], start})
}

// expandElement expands one element: the cartesian product of its
// ranges, the leftmost varying slowest, as ClusterShell does.
func expandElement(input string, el span) ([]string, error) {
	text := strings.TrimSpace(el.text)
	pos := el.pos + strings.Index(el.text, text)
	switch {
	case text == "":
		return nil, &nodeSetError{input, el.pos, "empty host name"}
	case strings.HasPrefix(text, "@"):
		return expandGroup(input, pos, text)
	}

	out := []string{""}
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '[')
		if k := strings.IndexByte(text[i:], ']'); k >= 0 && (j < 0 || k < j) {
			return nil, &nodeSetError{input, pos + i + k, "']' without '['"}
		}
		if j < 0 {
			out = appendAll(out, []string{text[i:]})
			break
		}
		out = appendAll(out, []string{text[i : i+j]})
		open := i + j
		end := strings.IndexByte(text[open:], ']')
		if end < 0 {
			return nil, &nodeSetError{input, pos + open, "'[' without ']'"}
		}
		inner := text[open+1 : open+end]
		i = open + end + 1
		if strings.Contains(inner, ":") {
			// An IPv6 literal, kept with its brackets for ParseAddr.
			out = appendAll(out, []string{"[" + inner + "]"})
			continue
		}
		vals, err := expandRanges(input, pos+open+1, inner)
		if err != nil {
			return nil, err
		}
		if len(out)*len(vals) > maxNodes {
			return nil, &nodeSetError{input, pos + open, fmt.Sprintf("more than %d hosts", maxNodes)}
		}
		out = appendAll(out, vals)
	}
	return out, nil
}

// appendAll returns every prefix followed by every suffix.
func appendAll(prefixes, suffixes []string) []string {
	out := make([]string, 0, len(prefixes)*len(suffixes))
	for _, p := range prefixes {
		for _, s := range suffixes {
			out = append(out, p+s)
		}
	}
	return out
}

// expandRanges expands the inside of a bracket, "1-3,7,09-11/2", where
// pos is the offset of inner in the whole input. A bound written with a
// leading zero sets the width of every number of its range.
func expandRanges(input string, pos int, inner string) ([]string, error) {
	var out []string
	off := 0
	for _, part := range strings.Split(inner, ",") {
		at := pos + off
		off += len(part) + 1
		if part == "" {
			return nil, &nodeSetError{input, at, "empty range"}
		}
		rng, stepText, hasStep := strings.Cut(part, "/")
		loText, hiText, isRange := strings.Cut(rng, "-")
		if !isRange {
			hiText = loText
		}
		lo, err1 := rangeNumber(loText)
		hi, err2 := rangeNumber(hiText)
		step := 1
		var err3 error
		if hasStep {
			step, err3 = rangeNumber(stepText)
		}
		switch {
		case err1 != nil || err2 != nil || err3 != nil:
			return nil, &nodeSetError{input, at, fmt.Sprintf("%q is not N, N-M or N-M/STEP", part)}
		case hi < lo:
			return nil, &nodeSetError{input, at, fmt.Sprintf("range %q runs backwards", part)}
		case step == 0:
			return nil, &nodeSetError{input, at, "step 0"}
		case (hi-lo)/step >= maxNodes:
			return nil, &nodeSetError{input, at, fmt.Sprintf("range %q has more than %d values", part, maxNodes)}
		}
		width := 0
		if len(loText) > 1 && loText[0] == '0' {
			width = len(loText)
		}
		for n := lo; n <= hi; n += step {
			out = append(out, fmt.Sprintf("%0*d", width, n))
		}
	}
	return out, nil
}

// rangeNumber reads a decimal bound: digits only, at most 9 of them.
func rangeNumber(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a number")
	}
	return strconv.Atoi(s)
}

// Environment variables that the batch schedulers set in a job.
const (
	oarNodeFileEnv  = "OAR_NODEFILE"       // a file, one line per core
	slurmNodeSetEnv = "SLURM_JOB_NODELIST" // a node set in compact form
)

// expandGroup expands @oar and @slurm, the nodes of the job tacet runs
// in. They are read only when named: a job's node list is not a default,
// since a command meant for the local daemon must not reach every node.
func expandGroup(input string, pos int, name string) ([]string, error) {
	switch name {
	case "@oar":
		path := os.Getenv(oarNodeFileEnv)
		if path == "" {
			return nil, &nodeSetError{input, pos, "@oar: $" + oarNodeFileEnv + " is not set (not in an OAR job?)"}
		}
		hosts, err := readHostFile(path)
		if err != nil {
			return nil, &nodeSetError{input, pos, "@oar: " + err.Error()}
		}
		return hosts, nil
	case "@slurm":
		list := os.Getenv(slurmNodeSetEnv)
		if list == "" {
			return nil, &nodeSetError{input, pos, "@slurm: $" + slurmNodeSetEnv + " is not set (not in a Slurm job?)"}
		}
		hosts, err := expandNodeSet(list)
		if err != nil {
			return nil, &nodeSetError{input, pos, "@slurm: $" + slurmNodeSetEnv + ": " + err.Error()}
		}
		return hosts, nil
	}
	return nil, &nodeSetError{input, pos, fmt.Sprintf("unknown group %q (want @oar or @slurm)", name)}
}

// readHostFile reads a file of hosts: one node set per line, blank lines
// and # comments skipped, repeats dropped. OAR's node file, which names
// a host once per core, is such a file.
func readHostFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	seen := make(map[string]bool)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		hosts, err := expandNodeSet(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		for _, h := range hosts {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// excludeHosts drops from hosts every one that ex names, either exactly
// or by its host name without the port: -x node3 drops node3:7341 too.
func excludeHosts(hosts, ex []string) []string {
	drop := make(map[string]bool, len(ex))
	for _, h := range ex {
		drop[h] = true
	}
	return slices.DeleteFunc(hosts, func(h string) bool {
		return drop[h] || drop[hostPart(h)]
	})
}

// hostPart returns the host of a host:port, without IPv6 brackets, or
// addr itself when it has no port.
func hostPart(addr string) string {
	s := addr
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			return s[1:end]
		}
	}
	if strings.Count(s, ":") == 1 {
		h, _, _ := strings.Cut(s, ":")
		return h
	}
	return s
}

// foldNodeSet writes hosts in node-set notation, the inverse of
// expandNodeSet for names that differ in their last number:
// node1,node2,node3,node7 becomes node[1-3,7]. Padded numbers are folded
// only with numbers of the same width.
func foldNodeSet(hosts []string) string {
	type key struct {
		prefix, suffix string
		width          int // 0: not padded
	}
	groups := make(map[key][]int)
	var order []key
	var plain []string
	for _, h := range hosts {
		prefix, num, suffix, ok := lastNumber(h)
		if !ok {
			plain = append(plain, h)
			continue
		}
		n, _ := strconv.Atoi(num)
		k := key{prefix, suffix, 0}
		if len(num) > 1 && num[0] == '0' {
			k.width = len(num)
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], n)
	}

	// An unpadded number as wide as a padded group belongs to it: n10
	// joins n[01-09].
	for _, k := range order {
		if k.width == 0 {
			continue
		}
		loose := key{k.prefix, k.suffix, 0}
		groups[loose] = slices.DeleteFunc(groups[loose], func(n int) bool {
			if len(strconv.Itoa(n)) == k.width {
				groups[k] = append(groups[k], n)
				return true
			}
			return false
		})
	}

	out := plain
	for _, k := range order {
		if len(groups[k]) == 0 {
			continue
		}
		nums := groups[k]
		slices.Sort(nums)
		nums = slices.Compact(nums)
		if len(nums) == 1 {
			out = append(out, fmt.Sprintf("%s%0*d%s", k.prefix, k.width, nums[0], k.suffix))
			continue
		}
		out = append(out, k.prefix+"["+foldRanges(nums, k.width)+"]"+k.suffix)
	}
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(a, b) })
	return strings.Join(out, ",")
}

// lastNumber splits h around its last run of digits outside brackets.
func lastNumber(h string) (prefix, num, suffix string, ok bool) {
	end := -1
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ']' || h[i] == '[' || h[i] == '/' {
			return "", "", "", false
		}
		if h[i] >= '0' && h[i] <= '9' {
			end = i + 1
			break
		}
	}
	if end < 0 {
		return "", "", "", false
	}
	start := end
	for start > 0 && h[start-1] >= '0' && h[start-1] <= '9' {
		start--
	}
	if end-start > 9 {
		return "", "", "", false
	}
	return h[:start], h[start:end], h[end:], true
}

// foldRanges writes sorted distinct numbers as "1-3,7".
func foldRanges(nums []int, width int) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%0*d", width, nums[i])
		if j > i {
			fmt.Fprintf(&b, "-%0*d", width, nums[j])
		}
		i = j + 1
	}
	return b.String()
}
