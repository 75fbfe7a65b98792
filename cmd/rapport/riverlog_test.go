package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRiverRoutineLinesAreDebug: River's periodic job counts are not
// logged at info, its other lines are, and at debug both are.
func TestRiverRoutineLinesAreDebug(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level      slog.Level
		wantCounts bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		log := riverLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tc.level}))).With("client", "c1")
		log.Info("producer: Producer job counts", "queue", "send")
		log.Info("River client started")
		log.Warn("producer: Producer job counts") // only info is routine
		out := buf.String()
		require.Contains(t, out, `"msg":"River client started"`)
		require.Contains(t, out, `"level":"WARN"`)
		require.Equal(t, tc.wantCounts, bytes.Contains(buf.Bytes(), []byte(`"level":"DEBUG","msg":"producer: Producer job counts"`)), out)
		require.Contains(t, out, `"client":"c1"`)
	}
}
