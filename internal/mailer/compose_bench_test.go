package mailer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

// BenchmarkCompose writes a campaign-sized message (1.6 KB text, 4 KB
// HTML), unsigned and signed with each kind of DKIM key: what one message
// costs before it goes on the wire.
func BenchmarkCompose(b *testing.B) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		b.Fatal(err)
	}
	e := envelope("ada@example.org")
	e.Text = []byte(strings.Repeat("Our autumn collection is here: twelve new products, all in stock.\n", 25))
	e.HTML = []byte(strings.Repeat("<p style=\"margin:0 0 16px;\">Our autumn collection is here: <b>twelve</b> new products.</p>\n", 45))
	for _, k := range []struct {
		name string
		pem  []byte
	}{
		{"none", nil},
		{"ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})},
		{"rsa2048", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
	} {
		b.Run(k.name, func(b *testing.B) {
			var signer *DKIMSigner
			if k.pem != nil {
				if signer, err = NewDKIM("example.com", "rapport", k.pem); err != nil {
					b.Fatal(err)
				}
			}
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				if err := Compose(&buf, e, signer); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
