// SPDX-License-Identifier: Apache-2.0

package core

import (
	"runtime/debug"
	"time"
)

// After a burst of processes or connections the Go runtime keeps the
// memory it grew to: an idle daemon allocates nothing, so no collection
// runs for two minutes, and even then free pages go back to the kernel
// only gradually. Measured on 1000 children at once, the daemon's RSS
// stayed at 2.5 times its idle size minutes after all were released,
// while its live heap was back to 1 MiB. That memory is taken from the
// experiment, so once records and connections have been let go and
// nothing more was let go for giveBackDelay, the daemon collects and
// returns its free memory at once. It costs one collection per burst,
// off the loop; the timer exists only after something was let go.

// giveBackDelay is how long the daemon waits after the last record or
// connection it let go before it returns memory.
const giveBackDelay = time.Second

// noteFreed records that memory was let go, in the loop.
func (e *Engine) noteFreed() {
	if e.giveBack == nil {
		e.giveBack = time.AfterFunc(giveBackDelay, debug.FreeOSMemory)
		return
	}
	e.giveBack.Reset(giveBackDelay)
}
