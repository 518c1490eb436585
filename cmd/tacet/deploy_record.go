// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"gitlab.com/tacet/tacet/client"
)

// A deployment is recorded on the controller, in
// $XDG_CONFIG_HOME/tacet/deployments/NAME.json beside the key deploy made
// for it (NAME.key), so that `tacet -d NAME CMD` reaches its daemons
// without -w or --key-file, and undeploy knows what to take away.

// deployment is the record of one deployment.
type deployment struct {
	Name       string         `json:"name"`
	KeyFile    string         `json:"key_file"`
	OwnKey     bool           `json:"own_key,omitempty"` // deploy made KeyFile; undeploy removes it
	Transport  string         `json:"transport"`
	SSHConfig  string         `json:"ssh_config,omitempty"`
	SSHOptions []string       `json:"ssh_options,omitempty"`
	Hosts      []deployedHost `json:"hosts"`
}

// deployedHost is one host of a deployment.
type deployedHost struct {
	Target string `json:"target"` // as written in -w: the ssh destination, maybe a port
	Addr   string `json:"addr"`   // the daemon's address, for tacet to dial
	Base   string `json:"base"`   // the directory deploy used on the host
	PID    int    `json:"pid"`
	Tunnel string `json:"tunnel,omitempty"` // HOST:PORT for ssh -W on the host, when Addr is out of reach
}

// validName is what a deployment name may be: it names files here and
// directories on every host.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// deploymentDir is where the records are.
func deploymentDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the deployments directory: %w", err)
	}
	return filepath.Join(dir, "tacet", "deployments"), nil
}

// deploymentPath returns the record file of name, with ext ".json" or
// ".key".
func deploymentPath(name, ext string) (string, error) {
	if !validName.MatchString(name) {
		return "", usagef(fmt.Sprintf("deployment name %q: want letters, digits, '.', '_' or '-'", name))
	}
	dir, err := deploymentDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name+ext), nil
}

// loadDeployment reads the record of name. The error wraps
// fs.ErrNotExist when there is none.
func loadDeployment(name string) (*deployment, error) {
	path, err := deploymentPath(name, ".json")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", name, err)
	}
	d := &deployment{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("deployment %s: %s: %v", name, path, err)
	}
	return d, nil
}

// save writes the record, replacing the old one by a rename.
func (d *deployment) save() error {
	path, err := deploymentPath(d.Name, ".json")
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save deployment %s: %w", d.Name, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save deployment %s: %w", d.Name, err)
	}
	return os.Rename(tmp, path)
}

// remove deletes the record and the key deploy made for it.
func (d *deployment) remove() error {
	path, err := deploymentPath(d.Name, ".json")
	if err != nil {
		return err
	}
	if d.OwnKey {
		if err := os.Remove(d.KeyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// host returns the record of target, or nil.
func (d *deployment) host(target string) *deployedHost {
	i := slices.IndexFunc(d.Hosts, func(h deployedHost) bool { return h.Target == target })
	if i < 0 {
		return nil
	}
	return &d.Hosts[i]
}

// setHost adds or replaces the record of h.Target.
func (d *deployment) setHost(h deployedHost) {
	if old := d.host(h.Target); old != nil {
		*old = h
		return
	}
	d.Hosts = append(d.Hosts, h)
}

// dropHost forgets target.
func (d *deployment) dropHost(target string) {
	d.Hosts = slices.DeleteFunc(d.Hosts, func(h deployedHost) bool { return h.Target == target })
}

// applyDeployment makes -d NAME stand for the deployment's daemons and
// key, for every command but deploy and undeploy, which read -d as the
// name they work on.
func (o *options) applyDeployment(cmd string) error {
	if o.deployment == "" || cmd == "deploy" || cmd == "undeploy" {
		return nil
	}
	if len(o.hosts) != 1 || o.hosts[0] != "" {
		return usagef("-d names the hosts already: give -d or -w, not both")
	}
	d, err := loadDeployment(o.deployment)
	if errors.Is(err, os.ErrNotExist) {
		return usagef(fmt.Sprintf("no deployment %q: run tacet deploy --name %s first", o.deployment, o.deployment))
	}
	if err != nil {
		return err
	}
	if len(d.Hosts) == 0 {
		return fmt.Errorf("deployment %s has no hosts", d.Name)
	}
	o.hosts = o.hosts[:0]
	for i, h := range d.Hosts {
		o.hosts = append(o.hosts, h.Addr)
		if opts := d.tunnelOptions(&d.Hosts[i]); opts != nil {
			if o.viaSSH == nil {
				o.viaSSH = make(map[string][]client.Option)
			}
			o.viaSSH[h.Addr] = opts
		}
	}
	if o.keyFile == "" {
		o.keyFile = d.KeyFile
	}
	return nil
}
