// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"gitlab.com/tacet/tacet/codec"
)

// TestDiskFull puts the daemon's state directory on a 1 MiB tmpfs and
// runs a child that writes about 14.9 MB to stdout, more than the disk
// and the memory ring (8 MiB once the disk is full) together hold. The child must run to its end
// unhindered, every byte kept must be the child's byte at its offset,
// what could not be kept must be reported as gaps with their offsets,
// and the daemon must go on answering and starting processes.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a tmpfs for the state directory needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mount a 1 MiB tmpfs: %v", err)
	}
	// Registered before the daemon's cleanup, so it runs after the daemon has stopped.
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	d := startDaemon(t, "--state-dir", mnt)
	c := dial(t, d, d.tcp)

	want, err := exec.Command("seq", "1", "2000000").Output()
	if err != nil {
		t.Fatal(err)
	}
	r := c.start(sh("seq 1 2000000; echo done >&2"))
	ex := c.procWait(r.Handle, 2*eventTimeout)
	if ex.Code != 0 || ex.Signal != 0 || ex.Why != "" {
		t.Fatalf("the child that filled the disk: exit %+v", ex)
	}
	// Read once the child has ended, so that what is kept does not depend
	// on how fast a live subscriber drained the ring.
	sub := c.subscribe(r.Handle, codec.Stdout, 0, 1<<20)
	sd := c.collect(sub.Sub, 0, true, 2*eventTimeout)
	if sd.eos.Length != uint64(len(want)) || ex.Lengths[0] != uint64(len(want)) {
		t.Fatalf("stream length %d, exit record %v, want %d", sd.eos.Length, ex.Lengths, len(want))
	}

	kept := 0
	for _, o := range sd.chunks {
		if !bytes.Equal(o.Data, want[o.Offset:o.Offset+uint64(len(o.Data))]) {
			t.Fatalf("the %d bytes kept at offset %d are not the child's", len(o.Data), o.Offset)
		}
		kept += len(o.Data)
	}
	t.Logf("%d bytes written: %d kept, gaps %+v", len(want), kept, sd.gaps)
	// The spool holds the start, up to what the disk took; the memory
	// ring holds the end; what lies between is one gap.
	if len(sd.gaps) != 1 {
		t.Fatalf("%d gaps, want the one between what the disk and the ring hold", len(sd.gaps))
	}
	g := sd.gaps[0]
	if g.Why != "disk-error" || g.From == 0 || g.From > 1<<20 || g.To < uint64(len(want))-(8<<20) || g.To == uint64(len(want)) {
		t.Errorf("gap [%d, %d) %q, want disk-error from the end of a 1 MiB disk to the 8 MiB ring at the end of %d bytes",
			g.From, g.To, g.Why, len(want))
	}

	// out.read reports the same loss.
	var rr codec.ReadResult
	c.mustCall(codec.MethodRead, &codec.ReadArgs{Handle: r.Handle, Stream: codec.Stdout, Offset: g.From}, &rr)
	if rr.GapTo != g.To || rr.Why != "disk-error" || len(rr.Data) != 0 {
		t.Errorf("out.read at %d: gapto %d why %q, %d bytes; want the gap to %d", g.From, rr.GapTo, rr.Why, len(rr.Data), g.To)
	}

	// The daemon is up, and starts and captures another process.
	var hi codec.HostInfo
	c.mustCall(codec.MethodHostInfo, nil, &hi)
	for i := range 3 {
		out, ex := c.run(sh("echo still " + strconv.Itoa(i)))
		if ex.Code != 0 || string(out) != "still "+strconv.Itoa(i)+"\n" {
			t.Errorf("a process started on a full disk: output %q, exit %+v", out, ex)
		}
	}
	if !d.Running() {
		t.Fatal("tacetd is gone")
	}
}
