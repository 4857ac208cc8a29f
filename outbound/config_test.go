package outbound

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"
)

// env is a getter over a map, as ParseConfig takes.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfig(t *testing.T) {
	good := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	good2 := "whsec_" + base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	cfg, err := ParseConfig(env(map[string]string{
		EnvEndpoints:   "console=https://console.example/hooks, audit=http://audit:8080/events",
		EnvSecrets:     "console=" + good + "|" + good2 + "; audit=" + good2,
		EnvMaxInFlight: "32", EnvTimeout: "5s", EnvLease: "30s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Endpoints) != 2 || cfg.Endpoints[0].Name != "console" || len(cfg.Endpoints[0].Secrets) != 2 ||
		cfg.Endpoints[1].URL != "http://audit:8080/events" || cfg.MaxInFlight != 32 || cfg.Timeout != 5*time.Second || cfg.Lease != 30*time.Second {
		t.Errorf("parsed %+v", cfg)
	}
	if c := cfg.withDefaults(); c.PerEndpoint != 16 {
		t.Errorf("per-endpoint cap with two endpoints = %d, want half of 32", c.PerEndpoint)
	}
	none, err := ParseConfig(env(nil))
	if err != nil || none.Enabled() || none.MaxInFlight != DefaultMaxInFlight {
		t.Errorf("no settings: %+v, %v; want a disabled dispatcher", none, err)
	}
}

func TestBadConfigurationIsRefusedNamingTheSetting(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("too-short"))
	file := t.TempDir() + "/secrets"
	if err := os.WriteFile(file, []byte("console="+short+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := "console=https://console.example/hooks"
	tests := map[string]struct {
		env  map[string]string
		want string // the setting named
	}{
		"entry without =":       {map[string]string{EnvEndpoints: "https://x"}, EnvEndpoints},
		"name with a space":     {map[string]string{EnvEndpoints: "my console=https://x/"}, EnvEndpoints},
		"upper-case name":       {map[string]string{EnvEndpoints: "Console=https://x/"}, EnvEndpoints},
		"relative URL":          {map[string]string{EnvEndpoints: "console=/hooks"}, EnvEndpoints},
		"ftp URL":               {map[string]string{EnvEndpoints: "console=ftp://x/hooks"}, EnvEndpoints},
		"URL with user info":    {map[string]string{EnvEndpoints: "console=https://u:p@x/hooks"}, EnvEndpoints},
		"duplicate name":        {map[string]string{EnvEndpoints: ok + ",console=https://y/"}, EnvEndpoints},
		"no secret":             {map[string]string{EnvEndpoints: ok}, EnvSecrets},
		"secret for another":    {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + secret + ";audit=" + secret}, EnvSecrets},
		"secret not whsec_":     {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=plain-text-secret-of-enough-length"}, EnvSecrets},
		"secret bad base64":     {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=whsec_!!!"}, EnvSecrets},
		"secret too short":      {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + short}, EnvSecrets},
		"secret entry no name":  {map[string]string{EnvEndpoints: ok, EnvSecrets: secret}, EnvSecrets},
		"short secret in file":  {map[string]string{EnvEndpoints: ok, EnvSecretsFile: file}, EnvSecretsFile},
		"missing file":          {map[string]string{EnvEndpoints: ok, EnvSecretsFile: file + ".missing"}, EnvSecretsFile},
		"file and variable":     {map[string]string{EnvEndpoints: ok, EnvSecretsFile: file, EnvSecrets: "console=" + secret}, EnvSecretsFile},
		"secrets, no endpoints": {map[string]string{EnvSecrets: "console=" + secret}, EnvEndpoints},
		"max in flight zero":    {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + secret, EnvMaxInFlight: "0"}, EnvMaxInFlight},
		"max in flight word":    {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + secret, EnvMaxInFlight: "many"}, EnvMaxInFlight},
		"timeout not duration":  {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + secret, EnvTimeout: "10"}, EnvTimeout},
		"lease negative":        {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + secret, EnvLease: "-1m"}, EnvLease},
		"timeout beyond lease":  {map[string]string{EnvEndpoints: ok, EnvSecrets: "console=" + secret, EnvTimeout: "2m", EnvLease: "1m"}, EnvTimeout},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig(env(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
			for _, s := range []string{secret, short, "plain-text-secret", "u:p@"} {
				if strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) {
					t.Errorf("error %q repeats a secret", err)
				}
			}
		})
	}
}
