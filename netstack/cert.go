// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Names of the files GenerateCert writes.
const (
	CertFileName = "cert.pem"
	KeyFileName  = "key.pem"
)

// certLifetime is how long a generated certificate is valid. A pinned
// certificate is never checked for expiry; one used as its own CA is, so
// the lifetime is long rather than a yearly chore.
const certLifetime = 10 * 365 * 24 * time.Hour

// GenerateCert writes a new self-signed ECDSA P-256 certificate and its
// key to dir/cert.pem (mode 0644) and dir/key.pem (mode 0600), creating
// dir with mode 0700 if needed, and returns the certificate's pin (see
// TLSConfig.Pin). hosts are the DNS names and IP addresses it is valid
// for; they matter only to controllers that use cert.pem as their CA
// file, since a pin names the key, not a host. The certificate may serve
// a daemon or a controller. Existing files are not replaced: the error
// then wraps fs.ErrExist.
func GenerateCert(dir string, hosts []string) (pin string, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("netstack: generate certificate: %w", err)
	}
	tmpl, err := certTemplate(hosts)
	if err != nil {
		return "", err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", fmt.Errorf("netstack: generate certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("netstack: generate certificate: %w", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("netstack: generate certificate: %w", err)
	}
	keyPath, certPath := filepath.Join(dir, KeyFileName), filepath.Join(dir, CertFileName)
	if err := writePEM(keyPath, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return "", err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		os.Remove(keyPath)
		return "", err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", fmt.Errorf("netstack: generate certificate: %w", err)
	}
	sum := spkiSum(cert)
	return hex.EncodeToString(sum[:]), nil
}

// certTemplate returns a self-signed certificate valid for hosts, usable
// as its own CA and for both ends of a connection.
func certTemplate(hosts []string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("netstack: generate certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tacet"},
		NotBefore:             now.Add(-time.Hour), // tolerate a peer's clock a little behind
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(hosts) > 0 {
		tmpl.Subject.CommonName = hosts[0]
	}
	return tmpl, nil
}

// writePEM writes one PEM block to a new file of mode perm.
func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("netstack: write %s: %w", path, err)
	}
	err = pem.Encode(f, &pem.Block{Type: typ, Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("netstack: write %s: %w", path, err)
	}
	return nil
}

// CertPin returns the pin of the first certificate in the PEM file at
// path: the SHA-256 of its DER SubjectPublicKeyInfo, in lowercase hex.
// A controller passes it as TLSConfig.Pin.
func CertPin(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("netstack: certificate pin: %w", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "", fmt.Errorf("netstack: certificate pin: %s holds no PEM certificate", path)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", fmt.Errorf("netstack: certificate pin: %s: %w", path, err)
		}
		sum := spkiSum(cert)
		return hex.EncodeToString(sum[:]), nil
	}
}
