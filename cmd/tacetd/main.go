// SPDX-License-Identifier: Apache-2.0

// Command tacetd is the tacet daemon: one per machine, it starts and
// controls processes for controllers that prove they hold the key, keeps
// their output and reports how they ended. See spec/PROTOCOL.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"gitlab.com/tacet/tacet/client/chain"
	"gitlab.com/tacet/tacet/core"
	"gitlab.com/tacet/tacet/core/keeper"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == core.KeeperArg {
		// The output keeper, started by the daemon; see core/keeper.
		if err := keeper.Run(os.Stdin); err != nil {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 2 && os.Args[1] == chain.Arg {
		// A relay of a chain put, started by a controller; see client/chain.
		if err := chain.Run(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tacetd:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tacetd:", err)
		os.Exit(2)
	}
	if cfg.showVersion {
		fmt.Println("tacetd", version, revision())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "tacetd:", err)
		os.Exit(1)
	}
}
