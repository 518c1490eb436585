// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gitlab.com/tacet/tacet/netstack"
)

// config is every setting of the daemon, from flags and --config.
type config struct {
	listen      []string
	keyFile     string
	stateDir    string
	logLevel    string
	cpus        string
	nice        int
	idle        bool
	insecure    bool
	frameMAC    bool
	tlsCert     string
	tlsKey      string
	tlsClientCA string
	onExit      string
	memBudget   int64
	diskBudget  int64
	retention   time.Duration
	showVersion bool
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string     { return "" }
func (l listFlag) Set(s string) error { *l.v = append(*l.v, s); return nil }

func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("tacetd", flag.ContinueOnError)
	fs.Var(listFlag{&c.listen}, "listen", "`URL` to listen on, repeatable: tcp://HOST:PORT, tls://HOST:PORT, kcp://HOST:PORT or unix:///PATH (default tcp://127.0.0.1:7340 and unix://"+netstack.DefaultSocketPath()+")")
	fs.StringVar(&c.keyFile, "key-file", netstack.DefaultKeyPath(), "pre-shared key `file`, written by tacet keygen")
	fs.StringVar(&c.stateDir, "state-dir", defaultStateDir(), "`directory` for spool files and the journal that carries processes over a restart; one daemon per directory")
	fs.StringVar(&c.logLevel, "log-level", "info", "error, warn, info or debug")
	fs.StringVar(&c.cpus, "cpus", "", "CPU `list` the daemon runs on, e.g. 0 or 0-1,4 (default: inherited)")
	fs.IntVar(&c.nice, "nice", 0, "nice value of the daemon")
	fs.BoolVar(&c.idle, "idle", false, "run the daemon in the idle scheduling class and idle I/O priority")
	fs.BoolVar(&c.insecure, "insecure", false, "allow network listeners without a key (anyone who reaches them runs commands)")
	fs.BoolVar(&c.frameMAC, "frame-mac", true, "grant per-frame MACs on tcp:// to controllers that ask")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate `file` for tls:// listeners (see also --tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.StringVar(&c.tlsClientCA, "tls-client-ca", "", "PEM CA `file`: tls:// controllers must present a certificate it signed (default: none asked)")
	fs.StringVar(&c.onExit, "on-exit", "kill", "what happens to running processes when the daemon stops: kill or leave")
	fs.Int64Var(&c.memBudget, "mem-budget", 256<<20, "`bytes` of output kept in memory, all processes together")
	fs.Int64Var(&c.diskBudget, "disk-budget", 4<<30, "`bytes` of output spooled to disk, all processes together")
	fs.DurationVar(&c.retention, "retention", 0, "release finished processes' records after this long (0: keep until released)")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	return fs
}

// parseFlags reads --config first, if given, then lets the command line
// override it.
func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := newFlagSet(c)
	var cfgFile string
	fs.StringVar(&cfgFile, "config", "", "`file` of settings, one \"name = value\" per line, named like the flags")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfgFile != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if err := applyConfigFile(fs, cfgFile, set); err != nil {
			return nil, err
		}
	}
	if c.onExit != "kill" && c.onExit != "leave" {
		return nil, errors.New("--on-exit must be kill or leave")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if c.tlsClientCA != "" && c.tlsCert == "" {
		return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
	}
	if len(c.listen) == 0 {
		c.listen = []string{"tcp://127.0.0.1:7340", "unix://" + netstack.DefaultSocketPath()}
	}
	return c, nil
}

// applyConfigFile sets from file every flag the command line did not.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		name, val = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(val), `"`)
		if !ok || fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("%s:%d: not a setting: %q", path, n, line)
		}
		if set[name] {
			continue // the command line wins; its --listen replaces the file's
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
	}
	return sc.Err()
}

func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/tacet"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tacet")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "tacet")
	}
	return filepath.Join(os.TempDir(), "tacet-"+strconv.Itoa(os.Geteuid()))
}
