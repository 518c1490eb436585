// SPDX-License-Identifier: Apache-2.0

package core

import (
	"runtime"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TestEngineGoroutinesAfterBurst runs a burst through one engine, in this
// process so that its goroutines can be counted: connections that start
// processes, with and without a lease, subscribe to their output and go
// away. Once every process has ended and been released, the engine must
// be down to the goroutines it had before.
func TestEngineGoroutinesAfterBurst(t *testing.T) {
	e, watcher := newTestEngine(t, Config{})
	startSh(t, watcher, "true", 0) // the loop, the reaper and the sampler are up
	base := runtime.NumGoroutine()

	var handles []uint64
	for range 10 {
		tc := connect(t, e)
		for i := range 5 {
			lease := time.Duration(0)
			if i == 0 {
				lease = 50 * time.Millisecond
			}
			h := startSh(t, tc, "echo x; sleep 0.2", lease)
			handles = append(handles, h)
			if _, cerr := tc.call(codec.MethodSubscribe, &codec.SubscribeArgs{Handle: h, Stream: codec.Stdout}); cerr != nil {
				t.Fatal(cerr)
			}
		}
		tc.c.Close()
	}
	for _, h := range handles {
		if _, cerr := watcher.call(codec.MethodWait, &codec.HandleArgs{Handle: h}); cerr != nil {
			t.Fatal(cerr)
		}
		if _, cerr := watcher.call(codec.MethodRelease, &codec.HandleArgs{Handle: h}); cerr != nil {
			t.Fatal(cerr)
		}
	}

	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > base && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	if n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the burst, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// startSh starts sh -c script from tc and returns its handle.
func startSh(t *testing.T, tc *testClient, script string, lease time.Duration) uint64 {
	t.Helper()
	a := &codec.StartArgs{Argv: [][]byte{[]byte("sh"), []byte("-c"), []byte(script)}, Lease: uint64(lease)}
	r, cerr := tc.call(codec.MethodStart, a)
	if cerr != nil {
		t.Fatal(cerr)
	}
	var sr codec.StartResult
	if err := codec.Unmarshal(r, &sr, "start"); err != nil {
		t.Fatal(err)
	}
	return sr.Handle
}
