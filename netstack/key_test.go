// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestKeyFile(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "etc", "tacet", "key")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", p, st.Mode().Perm(), want)
		}
	}
	if err := k.WriteFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second WriteFile = %v, want ErrExist", err)
	}

	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != k.ID() || got.psk != k.psk || len(k.ID()) != 16 {
		t.Errorf("loaded key %s, wrote %s", got.ID(), k.ID())
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); strings.Contains(s, hex.EncodeToString(k.psk[:4])) {
		t.Errorf("formatting a key shows its secret: %s", s)
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		text string
		mode fs.FileMode
		want string // in the error; "" for success
	}{
		{"good with newline", good + "\n", 0o600, ""},
		{"good without newline", good, 0o400, ""},
		{"world-readable", good + "\n", 0o644, "open to group or others"},
		{"group-readable", good + "\n", 0o640, "open to group or others"},
		{"too short", good[:62] + "\n", 0o600, "62 characters"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "not hexadecimal"},
		{"two newlines", good + "\n\n", 0o600, "65 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKey(path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("LoadKey = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestProofsFollowSpec computes K, the key id, the proofs and the
// frame.mac keys from the formulas of spec/PROTOCOL.md with the standard
// library alone, and compares them with the package's.
func TestProofsFollowSpec(t *testing.T) {
	psk := make([]byte, 32)
	for i := range psk {
		psk[i] = byte(i)
	}
	k := newKey([32]byte(psk))

	sum := sha256.Sum256(psk)
	if k.ID() != hex.EncodeToString(sum[:8]) {
		t.Errorf("key id %s", k.ID())
	}
	K, _ := hkdf.Key(sha256.New, psk, []byte("tacet/1"), "auth", 32)
	if !hmac.Equal(K, k.auth[:]) {
		t.Fatal("K differs")
	}

	hello, welcome, auth := []byte("hello payload"), []byte("welcome payload"), []byte("auth payload")
	var tr transcript
	tr.hello, tr.welcome, tr.auth = sha256.Sum256(hello), sha256.Sum256(welcome), sha256.Sum256(auth)
	mac := func(parts ...[]byte) []byte {
		m := hmac.New(sha256.New, K)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	if want := mac([]byte("tacet/1 client proof"), tr.hello[:], tr.welcome[:]); !hmac.Equal(k.clientProof(&tr), want) {
		t.Error("client proof differs")
	}
	if want := mac([]byte("tacet/1 daemon proof"), tr.hello[:], tr.welcome[:], tr.auth[:]); !hmac.Equal(k.daemonProof(&tr), want) {
		t.Error("daemon proof differs")
	}

	cn, sn := []byte(strings.Repeat("c", 32)), []byte(strings.Repeat("s", 32))
	c2d, d2c := k.macKeys(cn, sn)
	want, _ := hkdf.Key(sha256.New, K, append(append([]byte{}, cn...), sn...), "tacet/1 mac c2d", 32)
	if !hmac.Equal(c2d, want) {
		t.Error("c2d key differs")
	}
	want, _ = hkdf.Key(sha256.New, K, append(append([]byte{}, cn...), sn...), "tacet/1 mac d2c", 32)
	if !hmac.Equal(d2c, want) {
		t.Error("d2c key differs")
	}
	want, _ = hkdf.Key(sha256.New, psk, []byte("tacet/1"), "kcp", 32)
	if !hmac.Equal(k.kcpKey(), want) {
		t.Error("kcp key differs")
	}
}
