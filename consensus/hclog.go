package consensus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hcLogger routes raft's hclog output into a slog.Logger. Only warnings
// and errors pass: raft's info lines are chatter at this level of the
// stack, and nothing raft logs carries command payloads.
type hcLogger struct {
	log  *slog.Logger
	name string
	args []any
}

func newHCLogger(l *slog.Logger) hclog.Logger {
	return &hcLogger{log: l.With("component", "raft")}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	var lv slog.Level
	switch {
	case level >= hclog.Error:
		lv = slog.LevelError
	case level == hclog.Warn:
		lv = slog.LevelWarn
	default:
		return
	}
	attrs := make([]any, 0, len(h.args)+len(args)+2)
	if h.name != "" {
		attrs = append(attrs, "logger", h.name)
	}
	attrs = append(attrs, h.args...)
	attrs = append(attrs, plainArgs(args)...)
	h.log.Log(context.Background(), lv, msg, attrs...)
}

// plainArgs renders hclog's deferred formats, which slog would print as
// slices.
func plainArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if s, ok := f[0].(string); ok {
				a = fmt.Sprintf(s, f[1:]...)
			}
		}
		out[i] = a
	}
	return out
}

func (h *hcLogger) Trace(msg string, args ...any) {}
func (h *hcLogger) Debug(msg string, args ...any) {}
func (h *hcLogger) Info(msg string, args ...any)  {}
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) IsTrace() bool { return false }
func (h *hcLogger) IsDebug() bool { return false }
func (h *hcLogger) IsInfo() bool  { return false }
func (h *hcLogger) IsWarn() bool  { return true }
func (h *hcLogger) IsError() bool { return true }

func (h *hcLogger) ImpliedArgs() []any { return h.args }

func (h *hcLogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), plainArgs(args)...)
	return &c
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *hcLogger) SetLevel(hclog.Level) {}

func (h *hcLogger) GetLevel() hclog.Level { return hclog.Warn }

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hcLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{h}
}

// stdWriter turns standard-library log lines into warnings.
type stdWriter struct{ h *hcLogger }

func (w stdWriter) Write(p []byte) (int, error) {
	w.h.Warn(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
