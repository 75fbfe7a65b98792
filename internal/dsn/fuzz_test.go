package dsn

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, seeded with the samples: it must
// not panic, must keep to its limits, must fail only with its sentinels and
// a zero Report, and must return a Report that keeps checkReport's promises,
// the same one each time.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("From: a@example.org\n\nhi\n"))
	f.Add([]byte(nested(12)))
	f.Add([]byte(manyParts(60)))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n" +
		"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\nQWN0aW9uOiBmYWlsZWQKU3RhdHVzOiA1LjEuMQo=\n--x--\n"))

	opts := Options{MaxBytes: 64 << 10, MaxParts: 50, MaxDepth: 6}
	sentinels := []error{ErrTooLarge, ErrTooComplex, ErrMalformed}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(bytes.NewReader(data), "bounces+Fz-1@bounces.example.com", opts)
		if int64(len(data)) > opts.MaxBytes && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d bytes over MaxBytes %d: err = %v", len(data), opts.MaxBytes, err)
		}
		if err != nil {
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("err = %v, want one of the sentinels", err)
			}
			if !reflect.DeepEqual(rep, Report{}) {
				t.Fatalf("report on error = %+v, want zero", rep)
			}
			if !strings.HasPrefix(err.Error(), "dsn: ") || len(err.Error()) > 1000 {
				t.Fatalf("error message %q", err)
			}
			return
		}
		checkReport(t, rep)
		again, err := Parse(bytes.NewReader(data), "bounces+Fz-1@bounces.example.com", opts)
		if err != nil || !reflect.DeepEqual(rep, again) {
			t.Fatalf("second parse differs: %+v, %v", again, err)
		}
	})
}
