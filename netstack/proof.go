// SPDX-License-Identifier: Apache-2.0

package netstack

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Labels of the two proofs. They differ so that a daemon's proof sent
// back to it is not a client's proof.
const (
	labelClient = "tacet/1 client proof"
	labelDaemon = "tacet/1 daemon proof"
	labelC2D    = "tacet/1 mac c2d"
	labelD2C    = "tacet/1 mac d2c"
)

// transcript holds the SHA-256 of the handshake frames' payloads exactly
// as they were sent or received, envelope included.
type transcript struct {
	hello, welcome, auth [sha256.Size]byte
}

// clientProof returns cp = HMAC(K, label ‖ H(HELLO) ‖ H(WELCOME)).
func (k *Key) clientProof(t *transcript) []byte {
	m := hmac.New(sha256.New, k.auth[:])
	m.Write([]byte(labelClient))
	m.Write(t.hello[:])
	m.Write(t.welcome[:])
	return m.Sum(nil)
}

// daemonProof returns sp = HMAC(K, label ‖ H(HELLO) ‖ H(WELCOME) ‖ H(AUTH)).
// Covering AUTH binds the daemon's answer to the proof it checked.
func (k *Key) daemonProof(t *transcript) []byte {
	m := hmac.New(sha256.New, k.auth[:])
	m.Write([]byte(labelDaemon))
	m.Write(t.hello[:])
	m.Write(t.welcome[:])
	m.Write(t.auth[:])
	return m.Sum(nil)
}

// macKeys returns the frame.mac keys of the two directions of the
// connection whose nonces are cn and sn.
func (k *Key) macKeys(cn, sn []byte) (c2d, d2c []byte) {
	salt := make([]byte, 0, len(cn)+len(sn))
	salt = append(append(salt, cn...), sn...)
	return derive(k.auth[:], salt, labelC2D), derive(k.auth[:], salt, labelD2C)
}
