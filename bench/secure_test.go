// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"strconv"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/netstack"
)

// BenchmarkSecureThroughput measures what integrity on the wire costs
// output throughput: the same child's stdout read over plain tcp://,
// over tcp:// with the per-frame MAC, and over tls://, from one daemon,
// in a rotating order in every iteration. The ratios against plain TCP
// say when tls:// (which also hides the bytes) is worth it over the MAC.
func BenchmarkSecureThroughput(b *testing.B) {
	size := int64(256 << 20)
	if smoke() {
		size = 32 << 20
	}
	dir := b.TempDir()
	pin, err := netstack.GenerateCert(dir, []string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	tlsAddr := "tls://127.0.0.1:" + strconv.Itoa(freePort(b, "tcp"))
	d := startDaemon(b, false, "--listen", tlsAddr,
		"--tls-cert", dir+"/"+netstack.CertFileName, "--tls-key", dir+"/"+netstack.KeyFileName)
	ctx := context.Background()

	names := []string{"tcp", "tcp-mac", "tls"}
	conns := []*client.Client{
		d.dial(d.tcp),
		d.dialWith(d.tcp, client.WithFrameMAC(true)),
		d.dialWith(tlsAddr, client.WithTLS(&netstack.TLSConfig{Pin: pin})),
	}
	subjects := make([]func() (time.Duration, error), len(conns))
	for i, c := range conns {
		subjects[i] = tacetCopy(ctx, c, size)
	}

	rate := measureRates(b, names, subjects, size)
	for k := 1; k < len(names); k++ {
		r := ratios(rate[k], rate[0])
		b.ReportMetric(r.median(), names[k]+"/tcp")
		b.ReportMetric(r.min(), names[k]+"/tcp-min")
		b.ReportMetric(r.max(), names[k]+"/tcp-max")
	}
}
