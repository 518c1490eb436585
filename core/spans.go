// SPDX-License-Identifier: Apache-2.0

package core

// span is a half-open range of stream offsets [from, to).
type span struct {
	from, to uint64
	why      string
}

// spans is a sorted list of disjoint spans; adjacent spans with the same
// reason are merged, so a stream that is spooled without interruption
// holds one span.
type spans []span

// maxSpans bounds a list. When a stream alternates between kept and lost
// bytes more often than this, the oldest spans give way, erring towards
// reporting a loss rather than returning bytes the stream cannot vouch
// for: a list of kept bytes forgets its oldest span, a list of lost bytes
// merges its two oldest.
const maxSpans = 1024

// add appends s, which starts at or after the end of the last span.
// lost says which kind of list ss is.
func (ss *spans) add(s span, lost bool) {
	l := *ss
	if n := len(l); n > 0 && l[n-1].to == s.from && l[n-1].why == s.why {
		l[n-1].to = s.to
		return
	}
	if len(l) >= maxSpans {
		if lost {
			l[1].from = l[0].from
		}
		l = l[1:]
	}
	*ss = append(l, s)
}

// find returns the span holding off.
func (ss spans) find(off uint64) (span, bool) {
	lo, hi := 0, len(ss)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case off < ss[m].from:
			hi = m
		case off >= ss[m].to:
			lo = m + 1
		default:
			return ss[m], true
		}
	}
	return span{}, false
}

// next returns the first span starting after off.
func (ss spans) next(off uint64) (span, bool) {
	for _, s := range ss {
		if s.from > off {
			return s, true
		}
	}
	return span{}, false
}
