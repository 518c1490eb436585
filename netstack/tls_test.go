// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// certs is a daemon's and a controller's certificate, made for a test.
type certs struct {
	daemon, ctl       string // directories holding cert.pem and key.pem
	daemonPin, ctlPin string
}

func makeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	c := certs{daemon: filepath.Join(dir, "daemon"), ctl: filepath.Join(dir, "ctl")}
	var err error
	if c.daemonPin, err = GenerateCert(c.daemon, []string{"127.0.0.1", "daemon.test"}); err != nil {
		t.Fatal(err)
	}
	if c.ctlPin, err = GenerateCert(c.ctl, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func certIn(dir string) string { return filepath.Join(dir, CertFileName) }
func keyIn(dir string) string  { return filepath.Join(dir, KeyFileName) }

// listenTLSTest listens on tls://127.0.0.1 with the daemon's certificate
// and, when clientCA is set, requires client certificates from it.
func listenTLSTest(t *testing.T, c certs, clientCA string) (net.Listener, string) {
	t.Helper()
	tc := &TLSConfig{CertFile: certIn(c.daemon), KeyFile: keyIn(c.daemon), CAFile: clientCA}
	ln, err := Listen(Addr{Scheme: SchemeTLS, Host: "127.0.0.1:0"}, ListenConfig{TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	return ln, "tls://" + ln.Addr().String()
}

func TestTLSHandshake(t *testing.T) {
	key := testKey(t, 1)
	c := makeCerts(t)
	tests := []struct {
		name     string
		clientCA string // the daemon requires client certificates from it
		cfg      TLSConfig
	}{
		{"ca", "", TLSConfig{CAFile: certIn(c.daemon)}},
		{"ca and server name", "", TLSConfig{CAFile: certIn(c.daemon), ServerName: "daemon.test"}},
		{"pin", "", TLSConfig{Pin: c.daemonPin}},
		{"pin with colons", "", TLSConfig{Pin: colons(strings.ToUpper(c.daemonPin))}},
		{"pin and ca", "", TLSConfig{Pin: c.daemonPin, CAFile: certIn(c.daemon)}},
		{"client cert", certIn(c.ctl), TLSConfig{Pin: c.daemonPin, CertFile: certIn(c.ctl), KeyFile: keyIn(c.ctl)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, addr := listenTLSTest(t, c, tt.clientCA)
			s := startServer(t, ln, &ServerConfig{Key: key, Welcome: welcomeFunc, FrameMAC: true})
			conn, err := Dial(context.Background(), addr, &ClientConfig{Key: key, Who: "tls tester", FrameMAC: true, TLS: &tt.cfg})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := s.result(); err != nil {
				t.Fatal(err)
			}
			sc := <-s.conns

			if p := sc.Peer(); p.Transport != SchemeTLS || p.UID != -1 || p.Who != "tls tester" {
				t.Errorf("daemon sees peer %+v", p)
			}
			if w := conn.Welcome(); w.Auth != authHMAC || len(w.Caps) != 0 {
				t.Errorf("welcome auth %q caps %q; want hmac and no frame.mac on tls", w.Auth, w.Caps)
			}
			st := conn.nc.(*tls.Conn).ConnectionState()
			if st.Version != tls.VersionTLS13 {
				t.Errorf("TLS version %#x, want 1.3", st.Version)
			}
			if tt.clientCA != "" && len(sc.nc.(*tls.Conn).ConnectionState().PeerCertificates) == 0 {
				t.Error("daemon holds no client certificate")
			}
			echo(t, conn, 20)
		})
	}
}

// colons writes a hex pin the way openssl prints fingerprints.
func colons(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// TestTLSRefused runs TLS and tacet handshakes that must fail, each
// followed by a good controller, which must still be served.
func TestTLSRefused(t *testing.T) {
	key := testKey(t, 1)
	c := makeCerts(t)
	other := makeCerts(t)
	good := &ClientConfig{Key: key, TLS: &TLSConfig{Pin: c.daemonPin, CertFile: certIn(c.ctl), KeyFile: keyIn(c.ctl)}}
	ln, addr := listenTLSTest(t, c, certIn(c.ctl))
	s := startServer(t, ln, &ServerConfig{Key: key, HandshakeTimeout: 300 * time.Millisecond})
	withTLS := func(tc TLSConfig) *ClientConfig {
		cfg := *good
		cfg.TLS = &tc
		return &cfg
	}
	clientCert := func(tc TLSConfig) TLSConfig {
		tc.CertFile, tc.KeyFile = certIn(c.ctl), keyIn(c.ctl)
		return tc
	}

	tests := []struct {
		name       string
		cfg        *ClientConfig
		code       uint16 // the controller's error
		refused    bool
		daemonCode uint16
	}{
		{"wrong pin", withTLS(clientCert(TLSConfig{Pin: other.daemonPin})), codec.CodeUnauth, false, codec.CodeUnauth},
		{"pin of the client cert", withTLS(clientCert(TLSConfig{Pin: c.ctlPin})), codec.CodeUnauth, false, codec.CodeUnauth},
		{"other ca", withTLS(clientCert(TLSConfig{CAFile: certIn(other.daemon)})), codec.CodeUnauth, false, codec.CodeUnauth},
		{"wrong name", withTLS(clientCert(TLSConfig{CAFile: certIn(c.daemon), ServerName: "other.test"})),
			codec.CodeUnauth, false, codec.CodeUnauth},
		{"good pin, wrong ca", withTLS(clientCert(TLSConfig{Pin: c.daemonPin, CAFile: certIn(other.daemon)})),
			codec.CodeUnauth, false, codec.CodeUnauth},
		{"no client cert", withTLS(TLSConfig{Pin: c.daemonPin}), codec.CodeUnauth, false, codec.CodeUnauth},
		{"client cert of another ca", withTLS(TLSConfig{Pin: c.daemonPin, CertFile: certIn(other.ctl), KeyFile: keyIn(other.ctl)}),
			codec.CodeUnauth, false, codec.CodeUnauth},
		{"wrong psk over good tls", &ClientConfig{Key: testKey(t, 2), TLS: good.TLS}, codec.CodeUnauth, true, codec.CodeUnauth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(context.Background(), addr, tt.cfg)
			he := wantCode(t, err, tt.code, tt.refused)
			t.Log(he)
			wantCode(t, s.result(), tt.daemonCode, false)
			goodClient(t, s, addr, good)
		})
	}

	t.Run("tls 1.2 client", func(t *testing.T) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		tc := tls.Client(nc, &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true})
		if err := tc.Handshake(); err == nil {
			t.Fatal("TLS 1.2 handshake succeeded")
		} else {
			t.Log(err)
		}
		wantCode(t, s.result(), codec.CodeUnauth, false)
		goodClient(t, s, addr, good)
	})
	t.Run("plain tacet on tls", func(t *testing.T) {
		_, err := Dial(context.Background(), "tcp://"+ln.Addr().String(), good)
		wantCode(t, err, codec.CodeProtocol, false)
		wantCode(t, s.result(), codec.CodeProtocol, false)
		goodClient(t, s, addr, good)
	})
	t.Run("silence", func(t *testing.T) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wantClosed(t, nc, 3*time.Second)
		wantCode(t, s.result(), codec.CodeTimeout, false)
		goodClient(t, s, addr, good)
	})
}

func goodClient(t *testing.T, s *testServer, addr string, cfg *ClientConfig) {
	t.Helper()
	conn, err := Dial(context.Background(), addr, cfg)
	if err != nil {
		t.Fatalf("good controller after a refusal: %v", err)
	}
	defer conn.Close()
	if err := s.result(); err != nil {
		t.Fatal(err)
	}
	echo(t, conn, 2)
}

// TestTLSOnPlainTCP dials tls:// to a plain tcp:// daemon, whose preface
// is not a TLS record.
func TestTLSOnPlainTCP(t *testing.T) {
	c := makeCerts(t)
	ln := listenTCPTest(t, "127.0.0.1:0")
	startServer(t, ln, &ServerConfig{Key: testKey(t, 1), HandshakeTimeout: 300 * time.Millisecond})
	_, err := Dial(context.Background(), "tls://"+ln.Addr().String(),
		&ClientConfig{Key: testKey(t, 1), TLS: &TLSConfig{Pin: c.daemonPin}})
	wantCode(t, err, codec.CodeProtocol, false)
}

func TestTLSConfigErrors(t *testing.T) {
	c := makeCerts(t)
	tcpOnly := &tls.Config{MaxVersion: tls.VersionTLS12}
	listen := []struct {
		name string
		tc   *TLSConfig
	}{
		{"no config", nil},
		{"no certificate", &TLSConfig{}},
		{"missing key", &TLSConfig{CertFile: certIn(c.daemon), KeyFile: filepath.Join(c.daemon, "none.pem")}},
		{"key of another cert", &TLSConfig{CertFile: certIn(c.daemon), KeyFile: keyIn(c.ctl)}},
		{"bad client ca", &TLSConfig{CertFile: certIn(c.daemon), KeyFile: keyIn(c.daemon), CAFile: keyIn(c.ctl)}},
		{"tls 1.2 max", &TLSConfig{CertFile: certIn(c.daemon), KeyFile: keyIn(c.daemon), Config: tcpOnly}},
	}
	for _, tt := range listen {
		if ln, err := Listen(Addr{Scheme: SchemeTLS, Host: "127.0.0.1:0"}, ListenConfig{TLS: tt.tc}); err == nil {
			ln.Close()
			t.Errorf("listen with %s: no error", tt.name)
		} else {
			t.Logf("listen with %s: %v", tt.name, err)
		}
	}

	a := Addr{Scheme: SchemeTLS, Host: "127.0.0.1:1"}
	dial := []struct {
		name string
		tc   *TLSConfig
	}{
		{"no config", nil},
		{"neither ca nor pin", &TLSConfig{}},
		{"short pin", &TLSConfig{Pin: c.daemonPin[:60]}},
		{"pin not hex", &TLSConfig{Pin: strings.Repeat("g", 64)}},
		{"missing ca file", &TLSConfig{CAFile: filepath.Join(c.daemon, "none.pem")}},
		{"tls 1.2 max", &TLSConfig{Pin: c.daemonPin, Config: tcpOnly}},
	}
	for _, tt := range dial {
		if nc, err := DialTLS(context.Background(), a, tt.tc); err == nil {
			nc.Close()
			t.Errorf("dial with %s: no error", tt.name)
		} else {
			t.Logf("dial with %s: %v", tt.name, err)
		}
	}
	if _, err := DialRaw(context.Background(), a); err == nil {
		t.Error("DialRaw on tls: no error")
	}
}

func TestGenerateCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	pin, err := GenerateCert(dir, []string{"::1", "host.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := CertPin(certIn(dir)); err != nil || got != pin {
		t.Errorf("CertPin = %q, %v; GenerateCert gave %q", got, err, pin)
	}
	cert, err := tls.LoadX509KeyPair(certIn(dir), keyIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	x := cert.Leaf
	if x.VerifyHostname("::1") != nil || x.VerifyHostname("host.test") != nil || x.VerifyHostname("other.test") == nil {
		t.Errorf("certificate names: IPs %v, DNS %v", x.IPAddresses, x.DNSNames)
	}
	if st, err := os.Stat(keyIn(dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", st.Mode(), err)
	}
	if _, err := GenerateCert(dir, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second GenerateCert in %s: %v, want fs.ErrExist", dir, err)
	}
	if _, err := CertPin(keyIn(dir)); err == nil {
		t.Error("CertPin of a key file: no error")
	}
}
