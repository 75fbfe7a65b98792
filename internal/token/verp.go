package token

import (
	"crypto/hmac"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// A bounce tag identifies one delivery in a message's envelope sender, the
// address bounces come back to (VERP: bounces+<tag>@BOUNCE_DOMAIN). It is
// the delivery id in base 36, a hyphen, and an HMAC of it: a bounce names
// exactly one delivery, and a forged or altered tag is ignored.
//
// Tags use lower-case letters, digits and one hyphen only, because mail
// systems on the way back may change the case of an address's local part.

// verpMACLen is the MAC's length in the tag: 10 bytes, 16 base32
// characters. Forging one means guessing 80 bits, one bounce per guess.
const verpMACLen = 10

var verpEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func verpMAC(k *key, deliveryID int64) string {
	var msg [5 + 8]byte
	copy(msg[:], "verp\x00")
	binary.BigEndian.PutUint64(msg[5:], uint64(deliveryID))
	return verpEncoding.EncodeToString(mac(k, msg[:])[:verpMACLen])
}

// BounceTag is the tag for a delivery, signed with the first key.
func (s *Signer) BounceTag(deliveryID int64) string {
	return strconv.FormatInt(deliveryID, 36) + "-" + verpMAC(&s.keys[0], deliveryID)
}

// VerifyBounceTag returns the delivery a tag names, if one of the Signer's
// keys signed it; otherwise an error wrapping ErrInvalid. Case is ignored.
func (s *Signer) VerifyBounceTag(tag string) (int64, error) {
	tag = strings.ToLower(tag)
	id36, mac, ok := strings.Cut(tag, "-")
	if !ok || len(tag) > 40 || id36 == "" {
		return 0, fmt.Errorf("%w: not a bounce tag", ErrInvalid)
	}
	id, err := strconv.ParseInt(id36, 36, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 36) != id36 {
		return 0, fmt.Errorf("%w: bad delivery id", ErrInvalid)
	}
	for i := range s.keys {
		if hmac.Equal([]byte(verpMAC(&s.keys[i], id)), []byte(mac)) {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%w: bounce tag signature", ErrInvalid)
}
