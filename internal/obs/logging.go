package obs

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogConfig is how a process logs.
type LogConfig struct {
	// Level is the lowest level written: debug, info (default), warn or
	// error.
	Level string
	// Dev writes human-readable lines instead of JSON.
	Dev bool
	// SDKDebug lets the Temporal SDK's debug lines through; off, the SDK
	// logs from INFO up whatever Level says.
	SDKDebug bool
}

// Validate checks the level's name.
func (c LogConfig) Validate() error {
	_, err := c.level()
	return err
}

func (c LogConfig) level() (zapcore.Level, error) {
	if c.Level == "" {
		return zapcore.InfoLevel, nil
	}
	l, err := zapcore.ParseLevel(c.Level)
	if err != nil || l > zapcore.ErrorLevel {
		return 0, fmt.Errorf("log level %q is not one of debug, info, warn, error", c.Level)
	}
	return l, nil
}

// NewLogger builds the process logger. No stack traces on ERROR: an error
// line says what needs a human; a stack trace is for a panic.
func NewLogger(c LogConfig) (*zap.Logger, error) {
	lvl, err := c.level()
	if err != nil {
		return nil, err
	}
	cfg := zap.NewProductionConfig()
	if c.Dev {
		cfg = zap.NewDevelopmentConfig()
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder // readable, and sorts
	cfg.Sampling = nil                                        // every milestone line, not a sample of them
	return cfg.Build(zap.AddStacktrace(zapcore.DPanicLevel))
}

// SDKLogger is the logger to hand the Temporal SDK: z, without its debug
// lines unless SDKDebug, and with its per-attempt "Activity error." lines
// at WARN: Temporal retries the activity, nothing needs a human yet, and
// certflow_activity_retries_total is what an alert watches. (Designed
// outcomes do not reach that line: the worker interceptor marks them
// benign, which the SDK logs at debug.)
func (c LogConfig) SDKLogger(z *zap.Logger) *zap.Logger {
	z = z.Named("temporal").WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return activityErrorsAsWarnings{core}
	}))
	if c.SDKDebug || !z.Core().Enabled(zapcore.DebugLevel) {
		return z
	}
	return z.WithOptions(zap.IncreaseLevel(zapcore.InfoLevel))
}

// sdkActivityError is the message the SDK logs each failed activity
// attempt with.
const sdkActivityError = "Activity error."

// activityErrorsAsWarnings writes the SDK's activity-attempt errors at
// WARN; everything else passes unchanged.
type activityErrorsAsWarnings struct{ zapcore.Core }

func (c activityErrorsAsWarnings) With(fields []zapcore.Field) zapcore.Core {
	return activityErrorsAsWarnings{c.Core.With(fields)}
}

func (c activityErrorsAsWarnings) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level == zapcore.ErrorLevel && e.Message == sdkActivityError {
		e.Level = zapcore.WarnLevel
	}
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}
