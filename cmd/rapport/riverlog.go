package main

import (
	"context"
	"log/slog"
	"strings"
)

// routineRiverLines are River's info lines that come every few seconds
// from every queue of every process whether anything happens or not; at
// info they drown what an operator reads. They stay at debug.
var routineRiverLines = []string{": Producer job counts"}

// riverLogger is log for River: its routine lines demoted to debug, the
// rest as they are.
func riverLogger(log *slog.Logger) *slog.Logger {
	return slog.New(&routineDemoter{Handler: log.Handler()})
}

// routineDemoter is a slog.Handler that logs routineRiverLines at debug.
type routineDemoter struct{ slog.Handler }

// Enabled lets every record through to Handle, which decides by its
// message; the wrapped handler still decides by level there.
func (d *routineDemoter) Enabled(ctx context.Context, l slog.Level) bool {
	return d.Handler.Enabled(ctx, l) || d.Handler.Enabled(ctx, slog.LevelDebug)
}

// Handle logs r, at debug if it is a routine line.
func (d *routineDemoter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		for _, s := range routineRiverLines {
			if strings.HasSuffix(r.Message, s) {
				r.Level = slog.LevelDebug
				break
			}
		}
	}
	if !d.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

// WithAttrs keeps the demotion on loggers River derives.
func (d *routineDemoter) WithAttrs(as []slog.Attr) slog.Handler {
	return &routineDemoter{Handler: d.Handler.WithAttrs(as)}
}

// WithGroup keeps the demotion on loggers River derives.
func (d *routineDemoter) WithGroup(name string) slog.Handler {
	return &routineDemoter{Handler: d.Handler.WithGroup(name)}
}
