package app

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/temporalx"
)

// Setting is one configurable name: a flag, the environment variable that
// also sets it (and names it in errors and in the configuration file), its
// default and its help text.
type Setting struct {
	Flag, Env, Default, Usage string
}

// Set is a Setting with its fields in order: flag, variable, default,
// usage.
func Set(flag, env, def, usage string) Setting {
	return Setting{Flag: flag, Env: env, Default: def, Usage: usage}
}

// Values are a process's settings resolved from, in rising precedence, the
// defaults, the optional configuration file (-config / CERTFLOW_CONFIG:
// KEY=value lines with the environment's names, # comments), the
// environment and the command line. Every variable of the file and the
// environment is kept, so the Temporal SDK's own TEMPORAL_* variables can
// come from the file too.
type Values struct {
	vars   temporalx.EnvMap
	source map[string]string // variable → where its value came from
}

// ConfigSetting is the configuration file's own setting; Parse adds it.
var ConfigSetting = Setting{"config", "CERTFLOW_CONFIG", "", "optional file of KEY=value settings (the environment's names), below the environment and the flags"}

// Parse resolves settings for the program name from environ (os.Environ's
// form) and args. It returns flag.ErrHelp after printing the help for -h.
func Parse(name string, settings []Setting, args, environ []string, output io.Writer) (*Values, error) {
	settings = append([]Setting{ConfigSetting}, settings...)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	raw := map[string]*string{}
	for _, s := range settings {
		raw[s.Flag] = fs.String(s.Flag, s.Default, fmt.Sprintf("%s (%s)", s.Usage, s.Env))
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	v := &Values{vars: temporalx.EnvMap{}, source: map[string]string{}}
	env := map[string]string{}
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok {
			env[k] = val
		}
	}
	file := env[ConfigSetting.Env]
	if set[ConfigSetting.Flag] {
		file = *raw[ConfigSetting.Flag]
	}
	if file != "" {
		vars, err := readConfigFile(file)
		if err != nil {
			return nil, err
		}
		for k, val := range vars {
			v.put(k, val, "config file "+file)
		}
	}
	for k, val := range env {
		if val != "" {
			v.put(k, val, "the environment")
		}
	}
	for _, s := range settings {
		switch {
		case set[s.Flag]:
			v.put(s.Env, *raw[s.Flag], "flag -"+s.Flag)
		case v.source[s.Env] == "" && s.Default != "":
			v.put(s.Env, s.Default, "the default")
		}
	}
	return v, nil
}

func (v *Values) put(k, val, from string) {
	v.vars[k] = val
	v.source[k] = from
}

// readConfigFile reads KEY=value lines; blank lines and # comments are
// skipped, a value may be quoted.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file (CERTFLOW_CONFIG): %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("config file %s line %d: want KEY=value, got %q", path, n, line)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		out[k] = val
	}
	return out, sc.Err()
}

// Env is the merged variables (file, environment, flags), as the Temporal
// SDK's envconfig reads them.
func (v *Values) Env() temporalx.EnvMap { return v.vars }

// String is the value of variable env ("" when unset).
func (v *Values) String(env string) string { return v.vars[env] }

// Duration parses variable env, naming it and its source on error.
func (v *Values) Duration(env string) (time.Duration, error) {
	s := v.vars[env]
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, v.bad(env, "is not a duration like 30s or 2m")
	}
	return d, nil
}

// PositiveDuration is Duration that must be above zero.
func (v *Values) PositiveDuration(env string) (time.Duration, error) {
	d, err := v.Duration(env)
	if err == nil && d <= 0 {
		err = v.bad(env, "must be positive")
	}
	return d, err
}

// Bool parses variable env (true/false/1/0); unset is false.
func (v *Values) Bool(env string) (bool, error) {
	s := v.vars[env]
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, v.bad(env, "is not true or false")
	}
	return b, nil
}

// Int parses variable env as a whole number; unset is 0.
func (v *Values) Int(env string) (int, error) {
	s := v.vars[env]
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, v.bad(env, "is not a whole number")
	}
	return n, nil
}

// List splits variable env at commas, dropping blanks.
func (v *Values) List(env string) []string {
	var out []string
	for _, s := range strings.Split(v.vars[env], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// bad is an error naming the variable, its value and where it came from.
// Values of secrets are not repeated.
func (v *Values) bad(env, problem string) error {
	return fmt.Errorf("%s=%q (from %s) %s", env, v.vars[env], v.source[env], problem)
}

// Errors collects the first error of a sequence of parses.
type Errors struct{ err error }

// Check keeps err if it is the first.
func (e *Errors) Check(err error) {
	if e.err == nil && err != nil {
		e.err = err
	}
}

// Err is the first error kept.
func (e *Errors) Err() error { return e.err }

// ErrHelp is flag.ErrHelp, returned by Parse after -h.
var ErrHelp = flag.ErrHelp

// IsHelp reports whether err is the -h request.
func IsHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
