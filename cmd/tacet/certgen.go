// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gitlab.com/tacet/tacet/netstack"
)

// cmdCertgen writes a self-signed certificate and key for a tls://
// daemon and prints the pin that controllers give to --tls-pin.
func cmdCertgen(ctx context.Context, t *cli, args []string) int {
	fs := flag.NewFlagSet("certgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	hosts := fs.String("hosts", "", "comma-separated host names and addresses the certificate names (default: this host's name)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		return t.fail(usagef("usage: tacet certgen [--hosts H1,H2] [DIR]"))
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	names := strings.FieldsFunc(*hosts, func(r rune) bool { return r == ',' })
	if len(names) == 0 {
		h, _ := os.Hostname()
		names = []string{h}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return t.fail(err)
	}
	pin, err := netstack.GenerateCert(dir, names)
	if err != nil {
		return t.fail(err)
	}
	fmt.Fprintf(t.stdout, "%s/%s\n%s/%s\npin %s\n", dir, netstack.CertFileName, dir, netstack.KeyFileName, pin)
	return 0
}
