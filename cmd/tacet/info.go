// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gitlab.com/tacet/tacet/client"
	"gitlab.com/tacet/tacet/codec"
	"gitlab.com/tacet/tacet/netstack"
)

// infoRecord is the JSON form of host.info.
type infoRecord struct {
	Host        string   `json:"host"`
	Hostname    string   `json:"hostname"`
	Version     string   `json:"version"`
	Revision    string   `json:"revision"`
	Kernel      string   `json:"kernel"`
	CPUModel    string   `json:"cpu_model"`
	CPUs        uint32   `json:"cpus"`
	NUMANodes   uint32   `json:"numa_nodes"`
	MemTotal    uint64   `json:"mem_bytes"`
	PID         uint32   `json:"pid"`
	UID         uint32   `json:"uid"`
	Containment string   `json:"containment"`
	CgroupVer   uint8    `json:"cgroup_version"`
	CgroupCtl   []string `json:"cgroup_controllers"`
	PSI         bool     `json:"psi"`
	ClockSource string   `json:"clock_source"`
	ClockSynced bool     `json:"clock_synced"`
	ClockEstErr uint64   `json:"clock_esterr_ns"`
	ClockMaxErr uint64   `json:"clock_maxerr_ns"`
	BootID      string   `json:"boot_id"`
	Methods     []string `json:"methods"`
}

func newInfoRecord(addr string, h *codec.HostInfo) infoRecord {
	return infoRecord{
		Host: hostName(addr), Hostname: h.Host, Version: h.Version, Revision: h.Revision,
		Kernel: h.Kernel, CPUModel: h.CPUModel, CPUs: h.CPUs, NUMANodes: h.NUMANodes,
		MemTotal: h.MemTotal, PID: h.PID, UID: h.UID, Containment: h.Containment,
		CgroupVer: h.CgroupVer, CgroupCtl: h.CgroupCtl, PSI: h.PSI,
		ClockSource: h.Clock.Source, ClockSynced: h.Clock.Synced,
		ClockEstErr: h.Clock.EstErr, ClockMaxErr: h.Clock.MaxErr,
		BootID: h.BootID, Methods: h.Methods,
	}
}

func cmdInfo(ctx context.Context, t *cli, args []string) int {
	flags := newFlags("info")
	if err := t.parseFlags(flags, args); err != nil {
		return helpOrFail(t, err)
	}
	return t.eachHost(func(addr string) int {
		c, err := t.dial(ctx, addr)
		if err != nil {
			return t.fail(err)
		}
		defer c.Close()
		h, err := c.HostInfo(ctx)
		if err != nil {
			return t.fail(err)
		}
		r := newInfoRecord(addr, h)
		if t.opts.json {
			t.json.write(r)
			return exitOK
		}
		t.printInfo(&r)
		return exitOK
	})
}

func (t *cli) printInfo(r *infoRecord) {
	synced := "not synchronised"
	if r.ClockSynced {
		synced = "synchronised"
	}
	lines := [][2]string{
		{"host", r.Host},
		{"hostname", r.Hostname},
		{"daemon", strings.TrimSpace(r.Version + " " + r.Revision)},
		{"daemon pid/uid", fmt.Sprintf("%d/%d", r.PID, r.UID)},
		{"kernel", r.Kernel},
		{"cpu", fmt.Sprintf("%d × %s, %d NUMA node(s)", r.CPUs, r.CPUModel, r.NUMANodes)},
		{"memory", fmt.Sprintf("%.1f GiB", float64(r.MemTotal)/(1<<30))},
		{"containment", containmentText(r)},
		{"psi", fmt.Sprint(r.PSI)},
		{"clock", fmt.Sprintf("%s, %s, est. error %v, max error %v", r.ClockSource, synced,
			time.Duration(r.ClockEstErr), time.Duration(r.ClockMaxErr))},
		{"boot id", r.BootID},
	}
	for _, l := range lines {
		fmt.Fprintf(t.stdout, "%-15s %s\n", l[0]+":", l[1])
	}
}

type pingRecord struct {
	Host     string  `json:"host"`
	Samples  int     `json:"samples"`
	RTTMinMs float64 `json:"rtt_min_ms"`
	RTTMedMs float64 `json:"rtt_median_ms"`
	OffsetMs float64 `json:"offset_ms"` // the daemon's clock minus ours
	ErrorMs  float64 `json:"error_ms"`  // bound on the offset's error: half the least RTT
	Error    string  `json:"error,omitempty"`
}

// maxPingCount bounds -c, as the client bounds a burst.
const maxPingCount = 256

func cmdPing(ctx context.Context, t *cli, args []string) int {
	flags := newFlags("ping")
	count := flags.Int("c", 16, "send `N` pings to each host (at most 256); the offset is that of least delay")
	gap := flags.Duration("i", 2*time.Millisecond, "`DUR` between two pings to one host")
	if err := t.parseFlags(flags, args); err != nil {
		return helpOrFail(t, err)
	}
	if *count < 1 || *count > maxPingCount || *gap < 0 || *gap > time.Second {
		return t.fail(usagef("ping: -c must be 1 to 256 and -i 0 to 1s"))
	}

	g := client.DialGroup(ctx, t.opts.hosts, client.GroupConfig{Fanout: t.opts.fanout,
		Timeout: t.opts.connectTimeout, Options: t.dialOptions(), HostOptions: t.hostOptions})
	defer g.Close()
	ests, errs := g.EstimateClocks(ctx, client.Burst{Count: *count, Spacing: *gap})

	tw := tabwriter.NewWriter(t.stdout, 2, 8, 2, ' ', 0)
	if !t.opts.json {
		fmt.Fprintln(tw, "HOST\tRTT MIN\tRTT MEDIAN\tOFFSET\tERROR\tSAMPLES")
	}
	statuses := make([]hostResult, len(errs))
	for i, err := range errs {
		statuses[i].status = statusFor(err)
		t.printPing(tw, t.opts.hosts[i], ests[i], err)
	}
	tw.Flush()
	if !t.opts.json {
		for i, err := range errs {
			if err != nil {
				t.warnf(t.opts.hosts[i], "%s", shortError(err, hostName(t.opts.hosts[i])))
			}
		}
	}
	return commonStatus(statuses)
}

// printPing prints the clock estimate of one host, or why there is none.
func (t *cli) printPing(tw *tabwriter.Writer, addr string, e client.ClockEstimate, err error) {
	r := pingRecord{Host: hostName(addr), Samples: e.Samples,
		RTTMinMs: float64(e.MinRTT) / 1e6, RTTMedMs: float64(e.MedianRTT) / 1e6,
		OffsetMs: float64(e.Offset()) / 1e6, ErrorMs: float64(e.ErrorBound()) / 1e6}
	if err != nil {
		r = pingRecord{Host: r.Host, Error: strings.TrimPrefix(err.Error(), r.Host+": ")}
	}
	switch {
	case t.opts.json:
		t.json.write(r)
	case err != nil:
		// Reported on stderr after the table.
	default:
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t±%s\t%d\n", r.Host, ms(e.MinRTT), ms(e.MedianRTT),
			signedMs(e.Offset()), ms(e.ErrorBound()), e.Samples)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }

func signedMs(d time.Duration) string { return fmt.Sprintf("%+.3fms", float64(d)/1e6) }

func cmdKeygen(ctx context.Context, t *cli, args []string) int {
	flags := newFlags("keygen")
	force := flags.Bool("force", false, "replace an existing key file")
	if err := t.parseFlags(flags, args); err != nil {
		return helpOrFail(t, err)
	}
	path := netstack.DefaultKeyPath()
	switch flags.NArg() {
	case 0:
		if path == "" {
			return t.fail(usagef("keygen: no default key path (no home directory): give PATH"))
		}
	case 1:
		path = flags.Arg(0)
	default:
		return t.fail(usagef("keygen takes at most one PATH"))
	}

	k, err := writeKey(path, *force)
	if err != nil {
		return t.fail(err)
	}
	if t.opts.json {
		t.json.write(map[string]string{"path": path, "id": k.ID()})
		return exitOK
	}
	fmt.Fprintf(t.stdout, "wrote key %s to %s\n", k.ID(), path)
	return exitOK
}

// writeKey writes a new key to path. With force an existing file is
// replaced by a rename, so that no reader ever sees half a key.
func writeKey(path string, force bool) (*netstack.Key, error) {
	k, err := netstack.GenerateKey()
	if err != nil {
		return nil, err
	}
	if !force {
		if err := k.WriteFile(path); errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("keygen: %s exists; use --force to replace it", path)
		} else if err != nil {
			return nil, err
		}
		return k, nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	os.Remove(tmp)
	if err := k.WriteFile(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("keygen: %w", err)
	}
	return k, nil
}

// containmentText says how the daemon contains its processes and which
// cgroup controllers it could enable for them.
func containmentText(r *infoRecord) string {
	ctl := "no controllers"
	if len(r.CgroupCtl) > 0 {
		ctl = "controllers " + strings.Join(r.CgroupCtl, " ")
	}
	return fmt.Sprintf("%s (cgroup v%d, %s)", r.Containment, r.CgroupVer, ctl)
}
