package temporalx

import (
	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
)

var (
	_ log.Logger          = (*ZapLogger)(nil)
	_ log.WithLogger      = (*ZapLogger)(nil)
	_ log.WithSkipCallers = (*ZapLogger)(nil)
)

// ZapLogger adapts a zap logger to the SDK's log.Logger: the SDK's
// alternating key/value pairs become zap fields.
type ZapLogger struct {
	s *zap.SugaredLogger
}

// NewZapLogger returns the SDK logger writing to z. It skips its own frame
// so zap reports the SDK's caller.
func NewZapLogger(z *zap.Logger) *ZapLogger {
	return &ZapLogger{s: z.WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

// Debug logs at debug level.
func (l *ZapLogger) Debug(msg string, keyvals ...any) { l.s.Debugw(msg, keyvals...) }

// Info logs at info level.
func (l *ZapLogger) Info(msg string, keyvals ...any) { l.s.Infow(msg, keyvals...) }

// Warn logs at warn level.
func (l *ZapLogger) Warn(msg string, keyvals ...any) { l.s.Warnw(msg, keyvals...) }

// Error logs at error level.
func (l *ZapLogger) Error(msg string, keyvals ...any) { l.s.Errorw(msg, keyvals...) }

// With returns a logger that adds keyvals to every entry.
func (l *ZapLogger) With(keyvals ...any) log.Logger { return &ZapLogger{s: l.s.With(keyvals...)} }

// WithCallerSkip returns a logger that skips depth more stack frames.
func (l *ZapLogger) WithCallerSkip(depth int) log.Logger {
	return &ZapLogger{s: l.s.WithOptions(zap.AddCallerSkip(depth))}
}
