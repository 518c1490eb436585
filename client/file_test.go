// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestGetRefusesEscapingListing has a daemon list entries that leave the
// tree being got: Get must refuse the listing before it asks for any
// file, and write nothing, inside the local directory or beside it.
func TestGetRefusesEscapingListing(t *testing.T) {
	for _, bad := range []string{"../evil", "/etc/evil", "a/../../evil", "a//b", "./a", "a/.."} {
		t.Run(bad, func(t *testing.T) {
			c, d := newPair(t)
			base := t.TempDir()
			local := filepath.Join(base, "local")
			errc := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			go func() {
				_, err := c.Get(ctx, "/srv/tree", local)
				errc <- err
			}()

			r := d.next(codec.MethodFileGet)
			if a := decode[codec.GetArgs](t, r); !a.List {
				t.Fatalf("first file.get is not a listing: %+v", a)
			}
			d.respond(r.id, &codec.GetResult{Files: []codec.FileEntry{
				{Dir: true, Mode: 0o755},
				{Path: []byte("ok"), Size: 1, Mode: 0o644},
				{Path: []byte(bad), Size: 1, Mode: 0o644},
			}})
			err := <-errc
			if err == nil || !strings.Contains(err.Error(), "not a path beneath it") {
				t.Fatalf("Get of a listing naming %q: %v", bad, err)
			}
			select {
			case r := <-d.reqs:
				t.Errorf("Get went on with %s after a bad listing", r.method)
			default:
			}
			ents, _ := os.ReadDir(base)
			if len(ents) > 0 {
				t.Errorf("Get wrote %v", ents)
			}
		})
	}
}
