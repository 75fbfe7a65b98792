package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealing keeps a secret rapport must use again (an outbound webhook's
// signing secret) encrypted at rest: AES-256-GCM under a key derived from
// SECRET_KEY, so a copy of the database alone does not reveal it. The first
// key seals; every key opens, so SECRET_KEY can be rotated.

// sealKey derives the encryption key of one secret key.
func sealKey(k *key) []byte {
	m := hmac.New(sha256.New, k.macKey)
	m.Write([]byte("rapport seal v1"))
	return m.Sum(nil)
}

// Seal encrypts plaintext; the result carries the key id and a random
// nonce.
func (s *Signer) Seal(plaintext []byte) ([]byte, error) {
	k := &s.keys[0]
	gcm, err := newGCM(k)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append(append([]byte{version}, k.id[:]...), nonce...), gcm.Seal(nil, nonce, plaintext, k.id[:])...)
	return out, nil
}

// Open decrypts what Seal made with any of the Signer's keys.
func (s *Signer) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < 1+kidLen || sealed[0] != version {
		return nil, errors.New("token: not a sealed value")
	}
	var id [kidLen]byte
	copy(id[:], sealed[1:1+kidLen])
	k, ok := s.byKID[id]
	if !ok {
		return nil, errors.New("token: sealed with a key this server does not have")
	}
	gcm, err := newGCM(k)
	if err != nil {
		return nil, err
	}
	rest := sealed[1+kidLen:]
	if len(rest) < gcm.NonceSize() {
		return nil, errors.New("token: sealed value too short")
	}
	plain, err := gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], id[:])
	if err != nil {
		return nil, fmt.Errorf("token: sealed value: %w", err)
	}
	return plain, nil
}

func newGCM(k *key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(sealKey(k))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
