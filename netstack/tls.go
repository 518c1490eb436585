// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"gitlab.com/tacet/tacet/codec"
)

// TLSConfig configures the tls:// transport, on either side. TLS 1.3 is
// the only version spoken, whatever Config says. The HMAC handshake still
// runs inside TLS: a certificate never authorizes a controller by itself.
//
// A daemon needs CertFile and KeyFile (or certificates in Config); with
// CAFile it also requires each controller to present a certificate that
// chains to one of those CAs.
//
// A controller checks the daemon with CAFile, with Pin, or with both, in
// which case both must pass; with neither, Config must be set, and its
// RootCAs (or the system roots when nil) decide. CertFile and KeyFile
// give it a client certificate, for daemons that ask for one.
type TLSConfig struct {
	// CertFile and KeyFile are PEM files of this side's certificate chain
	// and its private key.
	CertFile, KeyFile string

	// CAFile is a PEM file of the CAs the peer's certificate must chain to.
	CAFile string

	// Pin, on a controller, is the SHA-256 of the daemon certificate's
	// DER SubjectPublicKeyInfo in hex, as CertPin and GenerateCert give
	// it; colons and case are ignored. Pinning the key rather than the
	// whole certificate lets a daemon renew its certificate with the same
	// key without breaking its controllers.
	Pin string

	// ServerName, on a controller, is the name the daemon's certificate
	// must carry when it is checked against a CA; empty means the host of
	// the address dialed (an IP address is matched against IP SANs).
	ServerName string

	// Config, if set, is the base the fields above are added to. It is
	// cloned, never modified.
	Config *tls.Config
}

var errTLSConfig = errors.New("tls needs a TLSConfig")

// errPinMismatch is the verification failure of a pinned daemon key.
var errPinMismatch = errors.New("daemon certificate key does not match the pin")

func listenTLS(a Addr, cfg ListenConfig) (net.Listener, error) {
	if cfg.TLS == nil {
		return nil, fmt.Errorf("netstack: listen %s: %w", a, errTLSConfig)
	}
	tc, err := cfg.TLS.server()
	if err != nil {
		return nil, fmt.Errorf("netstack: listen %s: %w", a, err)
	}
	ln, err := listenTCP(Addr{Scheme: SchemeTCP, Host: a.Host})
	if err != nil {
		return nil, err
	}
	// tls.NewListener does not run the TLS handshake in Accept: it runs
	// on the first read or write, inside ServerHandshake, under its
	// deadline and behind the caller's Gate.
	return tls.NewListener(ln, tc), nil
}

// DialTLS connects to a over TCP, with the same socket options as Dial,
// and wraps the connection in TLS without running the TLS handshake yet;
// the first read or write runs it.
func DialTLS(ctx context.Context, a Addr, cfg *TLSConfig) (net.Conn, error) {
	if cfg == nil {
		return nil, fmt.Errorf("netstack: dial %s: %w", a, errTLSConfig)
	}
	host, _, err := net.SplitHostPort(a.Host)
	if err != nil {
		return nil, fmt.Errorf("netstack: dial %s: %v", a, err)
	}
	tc, err := cfg.client(host)
	if err != nil {
		return nil, fmt.Errorf("netstack: dial %s: %w", a, err)
	}
	nc, err := DialRaw(ctx, Addr{Scheme: SchemeTCP, Host: a.Host})
	if err != nil {
		return nil, err
	}
	return tls.Client(nc, tc), nil
}

// base returns a clone of c.Config, or a new config, set to TLS 1.3.
func (c *TLSConfig) base() (*tls.Config, error) {
	tc := &tls.Config{}
	if c.Config != nil {
		tc = c.Config.Clone()
	}
	if tc.MaxVersion != 0 && tc.MaxVersion < tls.VersionTLS13 {
		return nil, errors.New("tls: MaxVersion is below TLS 1.3, the only version tacet speaks")
	}
	tc.MinVersion = tls.VersionTLS13
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = append(tc.Certificates, cert)
	}
	return tc, nil
}

func (c *TLSConfig) server() (*tls.Config, error) {
	tc, err := c.base()
	if err != nil {
		return nil, err
	}
	if len(tc.Certificates) == 0 && tc.GetCertificate == nil && tc.GetConfigForClient == nil {
		return nil, errors.New("tls: a daemon needs a certificate and its key")
	}
	if c.CAFile != "" {
		if tc.ClientCAs, err = loadCAs(c.CAFile); err != nil {
			return nil, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// client returns the controller's config for a daemon at host.
func (c *TLSConfig) client(host string) (*tls.Config, error) {
	if c.CAFile == "" && c.Pin == "" && c.Config == nil {
		return nil, errors.New("tls: give the daemon's CA file or its certificate pin")
	}
	tc, err := c.base()
	if err != nil {
		return nil, err
	}
	if tc.ServerName == "" {
		tc.ServerName = c.ServerName
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if c.CAFile != "" {
		if tc.RootCAs, err = loadCAs(c.CAFile); err != nil {
			return nil, err
		}
	}
	if c.Pin == "" {
		return tc, nil
	}

	pin, err := parsePin(c.Pin)
	if err != nil {
		return nil, err
	}
	// Without a CA the pin is the whole check, so the chain and name are
	// not verified. VerifyConnection, unlike VerifyPeerCertificate, also
	// runs on resumed sessions.
	tc.InsecureSkipVerify = c.CAFile == "" && tc.RootCAs == nil
	next := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || spkiSum(cs.PeerCertificates[0]) != pin {
			return errPinMismatch
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return tc, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// parsePin reads a pin in hex, with or without colons.
func parsePin(s string) ([sha256.Size]byte, error) {
	var pin [sha256.Size]byte
	h := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "sha256:"), ":", "")
	if len(h) != 2*sha256.Size {
		return pin, fmt.Errorf("tls: pin has %d hex digits, want %d", len(h), 2*sha256.Size)
	}
	if _, err := hex.Decode(pin[:], []byte(h)); err != nil {
		return pin, errors.New("tls: pin is not hexadecimal")
	}
	return pin, nil
}

func spkiSum(cert *x509.Certificate) [sha256.Size]byte {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// tlsFailed reports whether err, met on a tls:// connection, is a TLS
// failure: the TLS handshake did not complete, or the peer refused it
// with an alert, which in TLS 1.3 a controller reads only after its own
// side of the TLS handshake is done (a daemon refusing its certificate).
func (h *handshake) tlsFailed(err error) bool {
	tc, ok := h.nc.(*tls.Conn)
	if !ok {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	return !tc.ConnectionState().HandshakeComplete
}

// tlsCode returns the code of a TLS failure: PROTOCOL for a peer that
// does not speak TLS, UNAUTH for the rest (a certificate refused by
// either side, no common version), since crypto/tls returns most local
// failures as plain errors that cannot be told apart.
func tlsCode(err error) uint16 {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return codec.CodeProtocol
	}
	return codec.CodeUnauth
}

// peerAlert returns, in place of a failed write's err, the TLS alert the
// peer sent before it closed the connection, if one can be read. In TLS
// 1.3 a daemon refuses a client certificate after the controller's side
// of the TLS handshake is done, so the controller's next write may fail
// on the reset before it has read the alert that says why.
func (h *handshake) peerAlert(err error) error {
	tc, ok := h.nc.(*tls.Conn)
	var op *net.OpError
	if !ok || !errors.As(err, &op) || op.Op != "write" {
		return err
	}
	tc.SetReadDeadline(time.Now().Add(goawayTimeout))
	var b [1]byte
	if _, rerr := tc.Read(b[:]); errors.As(rerr, &op) && op.Op == "remote error" {
		return rerr
	}
	return err
}
