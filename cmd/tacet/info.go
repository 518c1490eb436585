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
		{"containment", fmt.Sprintf("%s (cgroup v%d: %s)", r.Containment, r.CgroupVer, strings.Join(r.CgroupCtl, " "))},
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
	Seq      int     `json:"seq"`
	RTTms    float64 `json:"rtt_ms"`
	OffsetMs float64 `json:"offset_ms"`
}

func cmdPing(ctx context.Context, t *cli, args []string) int {
	flags := newFlags("ping")
	count := flags.Int("c", 4, "send `N` pings; the summary keeps the one of least delay")
	if err := t.parseFlags(flags, args); err != nil {
		return helpOrFail(t, err)
	}
	if *count < 1 {
		return t.fail(usagef("ping: -c must be at least 1"))
	}
	return t.eachHost(func(addr string) int {
		c, err := t.dial(ctx, addr)
		if err != nil {
			return t.fail(err)
		}
		defer c.Close()
		var best client.Sample
		for i := 1; i <= *count; i++ {
			s, err := c.Ping(ctx)
			if err != nil {
				return t.fail(err)
			}
			if i == 1 || s.Delay < best.Delay {
				best = s
			}
			t.printPing(addr, i, s)
		}
		if !t.opts.json {
			fmt.Fprintf(t.stdout, "%s: best of %d: rtt %s, clock offset %s (±%s)\n", hostName(addr), *count,
				ms(best.Delay), signedMs(best.Offset), ms(best.Delay/2))
		}
		return exitOK
	})
}

func (t *cli) printPing(addr string, seq int, s client.Sample) {
	if t.opts.json {
		t.json.write(pingRecord{Host: hostName(addr), Seq: seq,
			RTTms: float64(s.Delay) / 1e6, OffsetMs: float64(s.Offset) / 1e6})
		return
	}
	fmt.Fprintf(t.stdout, "%s: seq=%d rtt %s offset %s\n", hostName(addr), seq, ms(s.Delay), signedMs(s.Offset))
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
