package outbound

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/webhook"
)

// The settings of the dispatcher, by their environment names (a process
// declares them as flags too; cmd/gateway does).
const (
	EnvEndpoints   = "CERTFLOW_EVENT_ENDPOINTS"
	EnvSecrets     = "CERTFLOW_EVENT_SECRETS"
	EnvSecretsFile = "CERTFLOW_EVENT_SECRETS_FILE"
	EnvMaxInFlight = "CERTFLOW_EVENT_MAX_IN_FLIGHT"
	EnvTimeout     = "CERTFLOW_EVENT_TIMEOUT"
	EnvLease       = "CERTFLOW_EVENT_LEASE"
)

// Defaults of the settings.
const (
	DefaultMaxInFlight = 16
	DefaultTimeout     = 10 * time.Second
	DefaultLease       = time.Minute
	DefaultPoll        = 250 * time.Millisecond
	DefaultRetryBase   = time.Second
	DefaultRetryMax    = 5 * time.Minute
)

// MinSecretLen is the shortest secret accepted, in bytes: an HMAC key
// shorter than this is guessable.
const MinSecretLen = 24

// endpointName is the charset of an endpoint's name: it appears in
// metrics labels, logs and the store.
var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// EndpointConfig is one configured endpoint with its secrets.
type EndpointConfig struct {
	Name string
	URL  string
	// Secrets sign each message, one v1 signature per secret, newest
	// first: to rotate, configure new|old, let the receiver switch to the
	// new one, then drop the old one.
	Secrets [][]byte
}

// Config is the dispatcher's configuration. The zero values of the
// durations and of MaxInFlight mean their defaults.
type Config struct {
	Endpoints []EndpointConfig
	// SecretsFile, when set, holds the secrets (the Secrets format, one
	// endpoint a line); it is re-read when it changes or on SIGHUP.
	SecretsFile string
	// MaxInFlight bounds the attempts in flight across all endpoints;
	// PerEndpoint bounds one endpoint's (0: MaxInFlight with one
	// endpoint, half of it with more), so a slow endpoint cannot take
	// every slot.
	MaxInFlight, PerEndpoint int
	// Timeout bounds one attempt; it must be shorter than Lease, for
	// which a claimed delivery is held.
	Timeout, Lease time.Duration
	// Poll is how often the outbox is asked for work when none was found.
	Poll time.Duration
	// RetryBase and RetryMax shape the backoff: RetryBase doubling per
	// failed attempt up to RetryMax, with jitter.
	RetryBase, RetryMax time.Duration
}

// Enabled reports whether any endpoint is configured: without one the
// dispatcher does not run.
func (c Config) Enabled() bool { return len(c.Endpoints) > 0 }

// PortsEndpoints is the endpoints as the outbox knows them (no secrets).
func (c Config) PortsEndpoints() []ports.Endpoint {
	out := make([]ports.Endpoint, len(c.Endpoints))
	for i, e := range c.Endpoints {
		out[i] = ports.Endpoint{Name: e.Name, URL: e.URL}
	}
	return out
}

func (c Config) withDefaults() Config {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = c.MaxInFlight
		if len(c.Endpoints) > 1 {
			c.PerEndpoint = max(1, c.MaxInFlight/2)
		}
	}
	c.PerEndpoint = min(c.PerEndpoint, c.MaxInFlight)
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.Timeout, DefaultTimeout}, {&c.Lease, DefaultLease}, {&c.Poll, DefaultPoll}, {&c.RetryBase, DefaultRetryBase}, {&c.RetryMax, DefaultRetryMax}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return c
}

// ParseConfig reads the dispatcher's settings through get (the value of
// an environment variable, "" when unset) and checks them; an error names
// the setting at fault and never repeats a secret. No endpoints is not an
// error: the dispatcher then does not run (Config.Enabled).
//
// Formats:
//
//	CERTFLOW_EVENT_ENDPOINTS    name=url,name=url        e.g. console=https://console.example/hooks
//	CERTFLOW_EVENT_SECRETS      name=secret|secret;name=secret
//	CERTFLOW_EVENT_SECRETS_FILE a file of name=secret|secret lines (# comments)
//
// Names are 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or
// digit; URLs are absolute http or https. A secret is whsec_<base64> (the
// Standard Webhooks form) of at least 24 bytes; an endpoint's secrets are
// newest first, and every endpoint needs at least one. Secrets come from
// the file when it is set, else from CERTFLOW_EVENT_SECRETS (not both).
func ParseConfig(get func(string) string) (Config, error) {
	var c Config
	eps, err := parseEndpoints(get(EnvEndpoints))
	if err != nil {
		return Config{}, err
	}
	c.SecretsFile = strings.TrimSpace(get(EnvSecretsFile))
	if c.MaxInFlight, err = positiveInt(get, EnvMaxInFlight, DefaultMaxInFlight); err != nil {
		return Config{}, err
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
		def time.Duration
	}{{EnvTimeout, &c.Timeout, DefaultTimeout}, {EnvLease, &c.Lease, DefaultLease}} {
		if *d.to, err = positiveDuration(get, d.env, d.def); err != nil {
			return Config{}, err
		}
	}
	if c.Timeout >= c.Lease {
		return Config{}, fmt.Errorf("%s (%s) must be shorter than %s (%s): an attempt must end before its lease does", EnvTimeout, c.Timeout, EnvLease, c.Lease)
	}
	if len(eps) == 0 {
		if get(EnvSecrets) != "" || c.SecretsFile != "" {
			return Config{}, fmt.Errorf("%s is empty but event secrets are set: name the endpoints they belong to", EnvEndpoints)
		}
		return c, nil
	}
	var secrets map[string][][]byte
	switch {
	case c.SecretsFile != "" && get(EnvSecrets) != "":
		return Config{}, fmt.Errorf("set %s or %s, not both", EnvSecrets, EnvSecretsFile)
	case c.SecretsFile != "":
		secrets, err = ReadSecretsFile(c.SecretsFile)
	default:
		secrets, err = ParseSecrets(EnvSecrets, get(EnvSecrets))
	}
	if err != nil {
		return Config{}, err
	}
	source := EnvSecrets
	if c.SecretsFile != "" {
		source = EnvSecretsFile
	}
	if err := checkSecrets(source, eps, secrets); err != nil {
		return Config{}, err
	}
	for _, e := range eps {
		e.Secrets = secrets[e.Name]
		c.Endpoints = append(c.Endpoints, e)
	}
	return c, nil
}

func parseEndpoints(s string) ([]EndpointConfig, error) {
	var out []EndpointConfig
	seen := map[string]bool{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, raw, ok := strings.Cut(item, "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		if !ok {
			return nil, fmt.Errorf("%s: entry %d is not name=url", EnvEndpoints, i+1)
		}
		if !endpointName.MatchString(name) {
			return nil, fmt.Errorf("%s: endpoint name %q must be 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit", EnvEndpoints, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: endpoint %q is named twice", EnvEndpoints, name)
		}
		seen[name] = true
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			// A URL may carry a token in its user info: name the endpoint,
			// not the value.
			return nil, fmt.Errorf("%s: endpoint %q needs an absolute http:// or https:// URL without user info or fragment", EnvEndpoints, name)
		}
		out = append(out, EndpointConfig{Name: name, URL: u.String()})
	}
	return out, nil
}

// ParseSecrets parses "name=secret|secret;name=secret" (setting names the
// source in errors). Newlines separate entries as ';' does.
func ParseSecrets(setting, s string) (map[string][][]byte, error) {
	out := map[string][][]byte{}
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' })
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		name, list, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: entry %d is not name=secret|secret", setting, i+1)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: endpoint %q has two entries; list its secrets in one, separated by |", setting, name)
		}
		var secs [][]byte
		for j, raw := range strings.Split(list, "|") {
			if strings.TrimSpace(raw) == "" {
				continue
			}
			sec, err := webhook.ParseSecret(raw)
			if err != nil || !strings.HasPrefix(strings.TrimSpace(raw), webhook.SecretPrefix) {
				// The value is a secret: name its position, never echo it.
				return nil, fmt.Errorf("%s: secret %d of endpoint %q is not whsec_<base64>", setting, j+1, name)
			}
			if len(sec) < MinSecretLen {
				return nil, fmt.Errorf("%s: secret %d of endpoint %q is %d bytes; at least %d are needed", setting, j+1, name, len(sec), MinSecretLen)
			}
			secs = append(secs, sec)
		}
		out[name] = secs
	}
	return out, nil
}

// ReadSecretsFile reads a secrets file: name=secret|secret lines, blank
// lines and # comments skipped.
func ReadSecretsFile(path string) (map[string][][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvSecretsFile, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return ParseSecrets(EnvSecretsFile+" "+path, strings.Join(lines, "\n"))
}

// checkSecrets requires one secret at least for every endpoint and none
// for an unknown one (a typo would otherwise leave an endpoint unsigned).
func checkSecrets(setting string, eps []EndpointConfig, secrets map[string][][]byte) error {
	known := map[string]bool{}
	for _, e := range eps {
		known[e.Name] = true
		if len(secrets[e.Name]) == 0 {
			return fmt.Errorf("%s: endpoint %q has no secret; every endpoint of %s needs one", setting, e.Name, EnvEndpoints)
		}
	}
	var unknown []string
	for name := range secrets {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%s: secrets for %q, which %s does not list", setting, unknown, EnvEndpoints)
	}
	return nil
}

func positiveInt(get func(string) string, env string, def int) (int, error) {
	s := strings.TrimSpace(get(env))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q must be a positive whole number", env, s)
	}
	return n, nil
}

func positiveDuration(get func(string) string, env string, def time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(get(env))
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q must be a positive duration like 10s", env, s)
	}
	return d, nil
}
