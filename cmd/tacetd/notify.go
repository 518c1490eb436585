// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"net"
	"os"
)

// notifier tells systemd how the daemon is doing, as a Type=notify
// service expects: systemd names a Unix datagram socket in $NOTIFY_SOCKET
// and reads "READY=1" and "STOPPING=1" from it. The protocol is one
// datagram of text per state, so a few lines here do what a library such
// as go-systemd's daemon package would, without a dependency for it.
type notifier struct {
	addr *net.UnixAddr // nil when not started by systemd as a notify service
}

// newNotifier reads $NOTIFY_SOCKET and unsets it, so that the processes
// the daemon starts, which inherit its environment, cannot speak for it.
// A name starting with '@' is in the abstract namespace, which Go's
// net package writes the same way.
func newNotifier() *notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if path == "" || path[0] != '/' && path[0] != '@' {
		return &notifier{}
	}
	return &notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// send writes one state to systemd. Without $NOTIFY_SOCKET it does
// nothing.
func (n *notifier) send(state string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}
