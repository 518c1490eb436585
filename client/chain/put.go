// SPDX-License-Identifier: Apache-2.0

package chain

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync/atomic"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// Options configure Put.
type Options struct {
	// Dial holds the options with which the controller dials the first
	// hops (its own key, name, timeout). Each Hop's Key is added to them.
	Dial []client.Option
	// FrameMAC asks every daemon of the chain for frame.mac.
	FrameMAC bool
	// Sync has every daemon flush the file to disk before it reports it.
	Sync bool
	// Progress, if set, is called with the bytes sent so far.
	Progress func(sent int64)
}

// Stats is what the controller itself did in a Put.
type Stats struct {
	Size int64 // bytes of the file
	Sent int64 // bytes of the file the controller sent, to the first relay it could start
}

// Put copies the regular file local to the path of every hop, in a
// chain that starts at hops[0]: the controller sends the bytes once, to
// the first relay. It returns one Result per hop, in the order of hops;
// an error only if nothing could be sent.
func Put(ctx context.Context, hops []Hop, local string, o Options) ([]Result, Stats, error) {
	var st Stats
	if len(hops) == 0 {
		return nil, st, errors.New("chain put: no hosts")
	}
	f, err := os.Open(local)
	if err != nil {
		return nil, st, fmt.Errorf("chain put: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		// TODO: a chain carries one file; a tree would need the header to
		// list its entries and the relay to put each one.
		return nil, st, fmt.Errorf("chain put: %s is not a regular file (%v)", local, err)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, st, fmt.Errorf("chain put: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, st, err
	}

	h := header{Size: info.Size(), SHA: sum.Sum(nil),
		Mode: codec.FileMode(info.Mode()), Mtime: info.ModTime().UnixNano(), Sync: o.Sync, MAC: o.FrameMAC}
	keys := make([]hopKey, len(hops))
	byAddr := make(map[string]*netstack.Key, len(hops))
	for i, hp := range hops {
		switch {
		case byAddr[hp.Addr] != nil:
			return nil, st, fmt.Errorf("chain put: %s is named twice", hp.Addr)
		case !path.IsAbs(hp.Path):
			return nil, st, fmt.Errorf("chain put: remote path %q is not absolute", hp.Path)
		}
		keys[i] = hopKey{Addr: hp.Addr, Key: string(hp.Key.AppendText(nil)), Path: []byte(path.Clean(hp.Path))}
		byAddr[hp.Addr] = hp.Key
	}
	dial := func(ctx context.Context, hk hopKey, mac bool) (*client.Client, error) {
		opts := append(o.Dial[:len(o.Dial):len(o.Dial)], client.WithKey(byAddr[hk.Addr]),
			client.WithFrameMAC(mac))
		return client.Dial(ctx, hk.Addr, opts...)
	}
	cr := &countingReader{r: io.LimitReader(f, info.Size()), progress: o.Progress}
	reps := forwardAll(ctx, dial, h, keys, cr)

	st.Size, st.Sent = info.Size(), cr.n.Load()
	res := make([]Result, len(hops))
	for i, r := range reps {
		res[i].Addr = r.Addr
		if r.Err != "" {
			res[i].Err = errors.New(r.Err)
		}
	}
	return res, st, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r        io.Reader
	n        atomic.Int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	sent := c.n.Add(int64(n))
	if c.progress != nil && n > 0 {
		c.progress(sent)
	}
	return n, err
}
