// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"errors"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// LinkConfig describes how a Link impairs packets, the same way in each
// direction.
type LinkConfig struct {
	Loss  float64       // share of packets dropped, 0 to 1
	Delay time.Duration // added to every packet that passes
	Seed  int64         // seeds the drops; each direction has its own source
	Queue int           // packets held in each direction at most; 0 means 4096
}

// Link carries IP packets between two TUN devices. Packets keep their
// order: the delay is the same for all, so the queue of each direction
// is a FIFO, and a packet that finds it full is dropped, as a router
// would.
type Link struct {
	a, b  *os.File
	wg    sync.WaitGroup
	stats [2]LinkStats
}

// LinkStats counts the packets of one direction.
type LinkStats struct {
	Passed, Dropped, Overflow atomic.Int64
}

type packet struct {
	due  time.Time
	data []byte
}

// maxPacket is larger than any packet a TUN device without GSO hands out.
const maxPacket = 64 << 10

// NewLink starts carrying packets between a and b, until Close.
func NewLink(a, b *os.File, cfg LinkConfig) *Link {
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	l := &Link{a: a, b: b}
	l.start(a, b, cfg, rand.New(rand.NewSource(cfg.Seed)), &l.stats[0])
	l.start(b, a, cfg, rand.New(rand.NewSource(cfg.Seed+1)), &l.stats[1])
	return l
}

// start runs one direction: a reader that drops and stamps packets, and
// a writer that holds each until it is due.
func (l *Link) start(src, dst *os.File, cfg LinkConfig, rng *rand.Rand, st *LinkStats) {
	q := make(chan packet, cfg.Queue)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer close(q)
		buf := make([]byte, maxPacket)
		for {
			n, err := src.Read(buf)
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				// A transient error of the device: keep the link up, but
				// do not spin on an error that repeats.
				time.Sleep(time.Millisecond)
				continue
			}
			if rng.Float64() < cfg.Loss {
				st.Dropped.Add(1)
				continue
			}
			select {
			case q <- packet{due: time.Now().Add(cfg.Delay), data: append([]byte(nil), buf[:n]...)}:
			default:
				st.Overflow.Add(1)
			}
		}
	}()
	go func() {
		defer l.wg.Done()
		for p := range q {
			time.Sleep(time.Until(p.due))
			if _, err := dst.Write(p.data); err == nil {
				st.Passed.Add(1)
			}
		}
	}()
}

// Stats returns the counters of the direction from a to b (0) or back (1).
func (l *Link) Stats(dir int) *LinkStats { return &l.stats[dir] }

// Close closes both devices and waits for the link's goroutines.
func (l *Link) Close() error {
	err := l.a.Close()
	if err2 := l.b.Close(); err == nil {
		err = err2
	}
	l.wg.Wait()
	return err
}
