// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// supervisorPeer is a private supervisord with its own config, log and
// Unix socket in a temporary directory, and one program, "true", which
// runs /bin/true when started and is never started by itself.
type supervisorPeer struct {
	proc   *peerProc
	ctl    string // supervisorctl
	config string
	http   *http.Client // XML-RPC over the Unix socket
}

// startSupervisord starts supervisord in the foreground and waits until
// its XML-RPC interface answers.
func startSupervisord(b testing.TB) *supervisorPeer {
	b.Helper()
	bin := peerTool(b, "supervisord", "supervisor")
	dir := b.TempDir()
	sock := filepath.Join(dir, "supervisor.sock")
	s := &supervisorPeer{ctl: peerTool(b, "supervisorctl", "supervisor"),
		config: filepath.Join(dir, "supervisord.conf")}
	// startsecs=0 makes a quick exit EXITED rather than BACKOFF; the
	// output goes to log files, as supervisord keeps it by default.
	writeFile(b, s.config, fmt.Sprintf(`[unix_http_server]
file=%[1]s
chmod=0700

[supervisord]
nodaemon=true
logfile=%[2]s/supervisord.log
pidfile=%[2]s/supervisord.pid
childlogdir=%[2]s
loglevel=warn
user=root

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%[1]s

[program:true]
command=/bin/true
autostart=false
autorestart=false
startsecs=0
startretries=0
`, sock, dir))
	s.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}

	s.proc = startPeer(b, "supervisord", bin, "-n", "-c", s.config)
	s.proc.waitFor(b, "answering XML-RPC", func() error {
		_, err := s.state()
		return err
	})
	return s
}

// statePattern finds the state of a process in getProcessInfo's result.
var statePattern = regexp.MustCompile(`<name>statename</name>\s*<value><string>(\w+)</string>`)

// call makes one XML-RPC call whose arguments are already encoded as
// <param> elements, and returns the response body.
func (s *supervisorPeer) call(method, params string) ([]byte, error) {
	body := `<?xml version="1.0"?><methodCall><methodName>` + method +
		`</methodName><params>` + params + `</params></methodCall>`
	resp, err := s.http.Post("http://supervisord/RPC2", "text/xml", bytes.NewBufferString(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte("<fault>")) {
		return nil, fmt.Errorf("supervisord %s: %s: %s", method, resp.Status, out)
	}
	return out, nil
}

const trueParam = `<param><value><string>true</string></value></param>`

// state returns the state name of the program "true".
func (s *supervisorPeer) state() (string, error) {
	out, err := s.call("supervisor.getProcessInfo", trueParam)
	if err != nil {
		return "", err
	}
	m := statePattern.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no statename in getProcessInfo result: %s", out)
	}
	return string(m[1]), nil
}

// waitExited polls the state of "true" every 1 ms until it is EXITED:
// supervisord sends no event that a client could wait on without its
// event listener protocol, so polling is what a controller does.
func (s *supervisorPeer) waitExited() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		st, err := s.state()
		switch {
		case err != nil:
			return err
		case st == "EXITED":
			return nil
		case st == "FATAL" || st == "BACKOFF":
			return errors.New("supervisord: program true is " + st)
		case time.Now().After(deadline):
			return errors.New("supervisord: program true still " + st + " after " + readyTimeout.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// xmlrpcTrue starts "true" with startProcess (not waiting for RUNNING)
// and polls until it has EXITED.
func (s *supervisorPeer) xmlrpcTrue() (time.Duration, error) {
	t0 := time.Now()
	if _, err := s.call("supervisor.startProcess", trueParam+
		`<param><value><boolean>0</boolean></value></param>`); err != nil {
		return 0, err
	}
	err := s.waitExited()
	return time.Since(t0), err
}

// ctlTrue runs `supervisorctl start true`, which returns once the
// program is RUNNING, and then polls until it has EXITED.
//
// Now and then /bin/true exits before supervisord has marked it RUNNING,
// and supervisorctl then answers "ERROR (abnormal termination)" with
// status 7, though the program ran and exited as it should: that answer
// counts as a start when the state that follows is EXITED, like any
// other.
func (s *supervisorPeer) ctlTrue() (time.Duration, error) {
	t0 := time.Now()
	if _, err := runQuiet(nil, s.ctl, "-c", s.config, "start", "true"); err != nil {
		var re *runError
		if !errors.As(err, &re) || !strings.Contains(re.out, "abnormal termination") {
			return 0, err
		}
	}
	err := s.waitExited()
	return time.Since(t0), err
}
