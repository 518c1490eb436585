// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
)

// chunk is the size of every read and write of the raw baselines, and of
// the client's reads: the largest out event the daemon sends.
const chunk = 64 << 10

// BenchmarkOutputThroughput measures how fast a controller reads the
// stdout of a child writing as fast as it can, over TCP and over the
// Unix socket, beside raw sockets of the same kind copying as many
// bytes. A fifth subject, the same child into a pipe spliced into a file
// (spoolFloor), is the ceiling of any forwarding that spools every byte
// first, as tacetd does by default. The five run in turn in every
// iteration, in a rotating order.
func BenchmarkOutputThroughput(b *testing.B) {
	size := int64(256 << 20)
	if smoke() {
		size = 64 << 20
	}
	d := startDaemon(b, false)
	ctx := context.Background()
	floor, floorDir := buildC(b, "testdata/spoolfloor.c", "-pthread"), b.TempDir()
	names := []string{"rawtcp", "tcp", "rawunix", "unix", "floor"}
	subjects := []func() (time.Duration, error){
		func() (time.Duration, error) { return rawCopy(tcpPair, size) },
		tacetCopy(ctx, d.dial(d.tcp), size),
		func() (time.Duration, error) { return rawCopy(unixPair, size) },
		tacetCopy(ctx, d.dial(d.unix), size),
		func() (time.Duration, error) { return spoolFloor(size, floor, "splice", floorDir) },
	}

	rate := measureRates(b, names, subjects, size)
	for _, k := range []int{1, 3} {
		r := ratios(rate[k], rate[k-1])
		b.ReportMetric(r.median(), names[k]+"/raw")
		b.ReportMetric(r.min(), names[k]+"/raw-min")
		b.ReportMetric(r.max(), names[k]+"/raw-max")
		r = ratios(rate[4], rate[k-1])
		b.ReportMetric(r.median(), "floor/raw"+names[k])
		b.ReportMetric(r.min(), "floor/raw"+names[k]+"-min")
		b.ReportMetric(r.max(), "floor/raw"+names[k]+"-max")
	}
}

// measureRates runs every subject once per iteration, in a rotating
// order, each copying size bytes, reports each one's median rate in MB/s
// under its name, and returns the rates.
func measureRates(b *testing.B, names []string, subjects []func() (time.Duration, error), size int64) []samples {
	rate := make([]samples, len(subjects))
	for i := 0; b.Loop(); i++ {
		for _, k := range rotation(i, len(subjects)) {
			dt, err := subjects[k]()
			if err != nil {
				b.Fatalf("%s: %v", names[k], err)
			}
			rate[k] = append(rate[k], float64(size)/1e6/dt.Seconds())
		}
	}
	for k, name := range names {
		b.ReportMetric(rate[k].median(), name+"-MB/s")
	}
	return rate
}

// tacetCopy returns a subject that starts a child writing size zero
// bytes to stdout through c and reads them from its Stream to EOF. The
// time runs from the start request to EOF.
func tacetCopy(ctx context.Context, c *client.Client, size int64) func() (time.Duration, error) {
	args := &codec.StartArgs{Argv: [][]byte{[]byte("head"), []byte("-c"),
		[]byte(strconv.FormatInt(size, 10)), []byte("/dev/zero")}}
	buf := make([]byte, chunk)
	return func() (time.Duration, error) {
		t0 := time.Now()
		p, err := c.Start(ctx, args)
		if err != nil {
			return 0, err
		}
		s, err := p.Output(ctx, codec.Stdout, 0)
		if err != nil {
			return 0, err
		}
		n, err := readAll(s, buf)
		dt := time.Since(t0)
		s.Close()
		if err != nil {
			return 0, err
		}
		if n != size {
			return 0, fmt.Errorf("read %d bytes of %d", n, size)
		}
		if _, err := p.Wait(ctx); err != nil {
			return 0, err
		}
		return dt, p.Release(ctx)
	}
}

// readAll reads r to EOF; a gap is an error, since nothing may be lost
// while a reader keeps up.
func readAll(r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// rawCopy copies size bytes over a connected pair made by pair, the
// writer in a goroutine and the reader here, chunk bytes at a time. The
// time runs from the first write to the last byte read.
func rawCopy(pair func() (net.Conn, net.Conn, error), size int64) (time.Duration, error) {
	w, r, err := pair()
	if err != nil {
		return 0, err
	}
	defer r.Close()

	werr := make(chan error, 1)
	t0 := time.Now()
	go func() {
		defer w.Close()
		buf := make([]byte, chunk)
		for left := size; left > 0; {
			n, err := w.Write(buf[:min(left, chunk)])
			if err != nil {
				werr <- err
				return
			}
			left -= int64(n)
		}
		werr <- nil
	}()
	n, err := readAll(r, make([]byte, chunk))
	dt := time.Since(t0)
	if err := <-werr; err != nil {
		return 0, err
	}
	if err == nil && n != size {
		err = fmt.Errorf("read %d bytes of %d", n, size)
	}
	return dt, err
}

// tcpPair returns both ends of a new loopback TCP connection.
func tcpPair() (net.Conn, net.Conn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	r, err := ln.Accept()
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	return w, r, nil
}

// unixPair returns both ends of a new Unix stream socket pair.
func unixPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var c [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c[i], err = net.FileConn(f) // a dup of fd, so f is closed either way
		f.Close()
		if err != nil {
			if i == 0 {
				syscall.Close(fds[1])
			} else {
				c[0].Close()
			}
			return nil, nil, err
		}
	}
	return c[0], c[1], nil
}
