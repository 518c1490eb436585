// SPDX-License-Identifier: Apache-2.0

// Command acceptor is the floor that BenchmarkIdleWakeups measures
// tacetd against: a Go process that listens on a Unix socket and a TCP
// port and blocks in Accept, doing nothing else. Whatever it wakes for
// is the Go runtime's own cost, which no Go daemon can go below.
//
// With no flags it prints what it is and exits 0, so that a runner which
// starts every main package under bench/ finds nothing to fail on.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	unixPath := flag.String("unix", "", "`path` of a Unix socket to listen on")
	tcpAddr := flag.String("tcp", "", "`host:port` to listen on")
	flag.Parse()
	if *unixPath == "" && *tcpAddr == "" {
		fmt.Println("acceptor: the idle baseline of BenchmarkIdleWakeups; started by the benchmark, with -unix and -tcp")
		return
	}

	var lns []net.Listener
	for _, a := range [][2]string{{"unix", *unixPath}, {"tcp", *tcpAddr}} {
		if a[1] == "" {
			continue
		}
		ln, err := net.Listen(a[0], a[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "acceptor:", err)
			os.Exit(1)
		}
		lns = append(lns, ln)
		go accept(ln)
	}

	// Like tacetd, it stops on SIGTERM; the benchmark ends it that way.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, ln := range lns {
		ln.Close()
	}
}

// accept takes connections and holds them open without reading, until
// the listener is closed.
func accept(ln net.Listener) {
	for {
		if _, err := ln.Accept(); err != nil {
			return
		}
	}
}
