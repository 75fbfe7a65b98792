// Package ops is the operations listener every rapport process serves, in
// every role, on OPS_ADDR: /healthz (the process is up), /readyz (it can do
// its work: the database answers and every migration is applied) and
// /metrics (Prometheus). Worker and scheduler processes serve nothing else
// over HTTP, so this is how they are probed and scraped; /metrics is served
// only here, never on the public port that also serves customer pages.
package ops

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Handler serves the probes and the metrics. ready reports why the process
// is not ready (nil: it is); the reason goes to the log, never to the
// caller, who learns only ok or not ok.
func Handler(ready func(context.Context) error, metrics http.Handler, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := Ready(r.Context(), ready); err != nil {
			log.Warn("not ready", "error", err.Error())
			answer(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		answer(w, http.StatusOK, "ready")
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

// Ready runs the readiness check with a deadline of its own, so a probe
// never hangs on a database that does not answer.
func Ready(ctx context.Context, ready func(context.Context) error) error {
	if ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return ready(ctx)
}

func answer(w http.ResponseWriter, status int, word string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": word})
}
