// SPDX-License-Identifier: Apache-2.0

package core

// sendSamples writes the pending sample of each sample subscription of
// the session and reports whether it wrote any. The buffer goes back to
// the subscription for the sampler to reuse.
func (w *writer) sendSamples() (bool, error) {
	s := w.s
	sent := false
	for i := 0; ; i++ {
		s.mu.Lock()
		if i >= len(s.ssubs) {
			s.mu.Unlock()
			return sent, nil
		}
		sb := s.ssubs[i]
		b := sb.pending
		sb.pending = nil
		s.mu.Unlock()
		if b == nil {
			continue
		}

		err := s.conn.WriteFrames(b) // b is framed (sampleSub.send)
		s.mu.Lock()
		if sb.free == nil && !sb.dead {
			sb.free = b[:0]
		}
		s.mu.Unlock()
		if err != nil {
			return sent, err
		}
		sent = true
	}
}
