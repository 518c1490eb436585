// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// KeyLen is the length of a pre-shared key in bytes.
const KeyLen = 32

// Key is a pre-shared key with what is derived from it: the key id sent
// in HELLO and the authentication key K of the handshake proofs. A Key
// never prints its secret: String gives the id only.
type Key struct {
	psk  [KeyLen]byte
	auth [sha256.Size]byte // K = HKDF-SHA256(psk, "tacet/1", "auth")
	id   string
}

// newKey derives the id and K from psk.
func newKey(psk [KeyLen]byte) *Key {
	k := &Key{psk: psk}
	sum := sha256.Sum256(psk[:])
	k.id = hex.EncodeToString(sum[:8])
	copy(k.auth[:], derive(psk[:], []byte(saltV1), "auth"))
	return k
}

// derive returns 32 bytes of HKDF-SHA256. The lengths are fixed and
// valid, so HKDF cannot fail here.
func derive(secret, salt []byte, info string) []byte {
	out, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		panic("netstack: hkdf: " + err.Error())
	}
	return out
}

const saltV1 = "tacet/1"

// GenerateKey returns a new random key.
func GenerateKey() (*Key, error) {
	var psk [KeyLen]byte
	if _, err := rand.Read(psk[:]); err != nil {
		return nil, fmt.Errorf("netstack: generate key: %w", err)
	}
	return newKey(psk), nil
}

// ParseKey parses the text of a key file: 64 hexadecimal digits and an
// optional final newline.
func ParseKey(text []byte) (*Key, error) {
	if n := len(text); n > 0 && text[n-1] == '\n' {
		text = text[:n-1]
	}
	if len(text) != 2*KeyLen {
		return nil, fmt.Errorf("key has %d characters, want %d hex digits", len(text), 2*KeyLen)
	}
	var psk [KeyLen]byte
	if _, err := hex.Decode(psk[:], text); err != nil {
		return nil, errors.New("key is not hexadecimal")
	}
	return newKey(psk), nil
}

// LoadKey reads a key file written by WriteFile. It refuses a file that
// its group or other users may read or write, because the key is what
// lets a controller start any process the daemon can start.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netstack: load key: %w", err)
	}
	defer f.Close()

	// Stat the open file rather than the path, so that the mode checked
	// is the mode of the bytes read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("netstack: load key: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("netstack: key file %s has mode %#o, open to group or others; run chmod 600 %s",
			path, perm, path)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("netstack: key file %s is not a regular file", path)
	}

	text, err := io.ReadAll(io.LimitReader(f, 4*KeyLen))
	if err != nil {
		return nil, fmt.Errorf("netstack: read key %s: %w", path, err)
	}
	k, err := ParseKey(text)
	if err != nil {
		return nil, fmt.Errorf("netstack: key file %s: %w", path, err)
	}
	return k, nil
}

// WriteFile writes the key to a new file with mode 0600, creating the
// parent directory with mode 0700 if needed. It does not replace an
// existing file: the error then wraps fs.ErrExist.
func (k *Key) WriteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("netstack: write key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("netstack: write key: %w", err)
	}

	var text [2*KeyLen + 1]byte
	hex.Encode(text[:], k.psk[:])
	text[2*KeyLen] = '\n'
	_, err = f.Write(text[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("netstack: write key %s: %w", path, err)
	}
	return nil
}

// AppendText appends the key's text, as in a key file without the
// newline, to b. It is the secret itself: it is for handing the key to a
// process of our own through a pipe, never for logs, argv or the
// environment.
func (k *Key) AppendText(b []byte) []byte {
	return hex.AppendEncode(b, k.psk[:])
}

// ID returns the key id: the first 8 bytes of SHA-256 of the key, in hex.
// It identifies the key in HELLO and in logs and reveals nothing of it.
func (k *Key) ID() string { return k.id }

// String returns "key " and the key id, never the key.
func (k *Key) String() string { return "key " + k.id }

// GoString is String, so that %#v does not print the key either.
func (k *Key) GoString() string { return k.String() }

// kcpKey returns the AES-256-GCM key for KCP packets.
func (k *Key) kcpKey() []byte { return derive(k.psk[:], []byte(saltV1), "kcp") }
