// SPDX-License-Identifier: Apache-2.0

package core

import "errors"

var (
	errBacklog        = errors.New("core: controller does not read its control frames")
	errUnexpectedKind = errors.New("core: unexpected message kind")
	errStopping       = errors.New("core: the daemon is stopping")
	errZeroID         = errors.New("core: request id 0")
)
