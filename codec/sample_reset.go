// SPDX-License-Identifier: Apache-2.0

package codec

// Reset methods of the sample.* bodies; see the note at the top of
// reset.go on why they exist and on aliasing.

// Reset clears a, keeping the storage of its slices.
func (a *SampleArgs) Reset() {
	*a = SampleArgs{Sources: a.Sources[:0], Handles: a.Handles[:0], PIDs: a.PIDs[:0],
		Devs: a.Devs[:0]}
}

// Reset clears r.
func (r *SampleSubResult) Reset() { *r = SampleSubResult{} }

// Reset clears s, and every element in the storage of its slices, which a
// following decode writes into. The storage of Net.Dev and Disk.Dev is
// kept too.
func (s *Sample) Reset() {
	cpu, mem, load := resetAll(s.CPU), resetAll(s.Mem), resetAll(s.Load)
	psi, vm, procs := resetAll(s.PSI), resetAll(s.VM), resetAll(s.Proc)
	net := s.Net[:cap(s.Net)]
	for i := range net {
		net[i] = Net{Dev: net[i].Dev[:0]}
	}
	disk := s.Disk[:cap(s.Disk)]
	for i := range disk {
		disk[i] = Disk{Dev: disk[i].Dev[:0]}
	}
	*s = Sample{Miss: s.Miss[:0], CPU: cpu, Mem: mem, Load: load, PSI: psi,
		Net: net[:0], Disk: disk[:0], VM: vm, Proc: procs}
}

// resetAll zeroes every element in the storage of v and returns it empty.
func resetAll[T any](v []T) []T {
	clear(v[:cap(v)])
	return v[:0]
}
