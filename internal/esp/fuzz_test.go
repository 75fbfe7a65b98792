package esp

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// The fuzz tests feed each parser arbitrary bytes, both as they arrive and
// correctly signed, so that the code behind every signature check is reached.
// They assert that nothing panics, that every error is one of the two
// sentinels, and that every event keeps the invariants in checkInvariants.
// Run one with, for example: go test -fuzz=FuzzSendGrid -fuzztime=30s ./internal/esp/

func requireSentinel(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error is neither ErrUnauthenticated nor ErrMalformed: %v", err)
	}
}

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s", pattern)
	}
	for _, name := range files {
		f.Add(readTestdata(f, filepath.Base(name)))
	}
}

func FuzzSESMessage(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sns_ses_*.json"))
	for _, name := range files {
		var env snsEnvelope
		if err := json.Unmarshal(readTestdata(f, filepath.Base(name)), &env); err != nil {
			f.Fatal(err)
		}
		f.Add(env.Message)
	}
	f.Add(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":7},null,{}]}}`)
	f.Add(`{"eventType":"Complaint","complaint":{"complainedRecipients":"x"}}`)
	sent := snsNow
	f.Fuzz(func(t *testing.T, message string) {
		events := parseSES(message, "sns-id", sent)
		if len(events) == 0 {
			t.Fatal("parseSES must report at least one event")
		}
		checkInvariants(t, ProviderSES, events)
	})
}

func FuzzSNSReceive(f *testing.F) {
	addSeeds(f, "sns_*.json")
	key := snsKeys()[0]
	certPEM := selfSignedPEM(f, key, snsNow.Add(-time.Hour), snsNow.Add(time.Hour))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := &SNS{TopicARNs: []string{testTopic}, Fetcher: &countingFetcher{data: certPEM}}
		msg, err := s.Receive(context.Background(), body, snsNow)
		requireSentinel(t, err)
		if err == nil {
			checkInvariants(t, ProviderSES, msg.Events)
		}

		// The same envelope signed with the trusted key.
		var m map[string]any
		if json.Unmarshal(body, &m) != nil || m == nil {
			return
		}
		for _, k := range []string{"Message", "MessageId", "Subject", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"} {
			if _, ok := m[k].(string); !ok && m[k] != nil {
				return // the test's signer only signs strings
			}
		}
		version := "2"
		if v, _ := m["SignatureVersion"].(string); v == "1" {
			version = "1"
		}
		msg, err = s.Receive(context.Background(), signSNS(t, m, key, version), snsNow)
		requireSentinel(t, err)
		if err == nil {
			checkInvariants(t, ProviderSES, msg.Events)
		}
	})
}

func FuzzSendGrid(f *testing.F) {
	addSeeds(f, "sendgrid_*.json")
	f.Add([]byte(`[{"event":"bounce","email":"A@B.CO","timestamp":1e99,"smtp-id":"<<>>"},1,"x",null]`))
	key := newSendGridKey(f)
	sg := &SendGrid{PublicKey: &key.PublicKey}
	f.Fuzz(func(t *testing.T, body []byte) {
		parsed, perr := parseSendGrid(body, sendGridNow)
		requireSentinel(t, perr)
		checkInvariants(t, ProviderSendGrid, parsed)

		events, err := sg.Receive(signSendGrid(t, key, "1513299600", body), body, sendGridNow)
		if (err == nil) != (perr == nil) {
			t.Fatalf("signed Receive error %v, parse error %v", err, perr)
		}
		requireSentinel(t, err)
		checkInvariants(t, ProviderSendGrid, events)
	})
}

func FuzzPostmark(f *testing.F) {
	addSeeds(f, "postmark_*.json")
	f.Add([]byte(`{"RecordType":"Bounce","Type":["HardBounce"],"Email":"x@y.z","ID":{"a":1},"BouncedAt":"9999-99-99"}`))
	p := &Postmark{Username: "u", Password: "p"}
	h := basicAuth("u", "p")
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := p.Receive(h, body)
		requireSentinel(t, err)
		checkInvariants(t, ProviderPostmark, events)
		if err == nil && len(events) != 1 {
			t.Fatalf("a Postmark record is one event, got %d", len(events))
		}
	})
}

func FuzzMailgun(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "mailgun_*.json"))
	for _, name := range files {
		var b struct {
			EventData json.RawMessage `json:"event-data"`
		}
		if err := json.Unmarshal(readTestdata(f, filepath.Base(name)), &b); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(b.EventData))
	}
	f.Add([]byte(`{"event":"failed","severity":"temporary","delivery-status":{"retry-seconds":-5,"code":{}}}`))
	now := time.Unix(1700000000, 0).UTC()
	f.Fuzz(func(t *testing.T, eventData []byte) {
		m := &Mailgun{SigningKey: mailgunKey}
		// As a whole body, unsigned.
		events, err := m.Receive(eventData, now)
		requireSentinel(t, err)
		checkInvariants(t, ProviderMailgun, events)
		// As event-data of a correctly signed body.
		body := mailgunBodyFor(mailgunKey, "1700000000", "fuzz-token", string(eventData))
		events, err = m.Receive(body, now)
		requireSentinel(t, err)
		checkInvariants(t, ProviderMailgun, events)
	})
}
