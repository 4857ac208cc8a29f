package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.env")
	body := "# comment\n\nexport CERTFLOW_DB=\"/var/lib/certflow.db\"\nCERTFLOW_LOG_LEVEL='warn'\nTEMPORAL_GRPC_META_X_TENANT=acme\n"
	if err := os.WriteFile(good, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := Parse("test", CommonSettings, []string{"-config", good}, []string{"CERTFLOW_LOG_LEVEL=error"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if v.String("CERTFLOW_DB") != "/var/lib/certflow.db" || v.String("CERTFLOW_LOG_LEVEL") != "error" {
		t.Errorf("db %q level %q: want the file's database, the environment's level", v.String("CERTFLOW_DB"), v.String("CERTFLOW_LOG_LEVEL"))
	}
	c, err := ParseCommon(v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.Profile.GRPCMeta["x-tenant"] != "acme" {
		t.Errorf("the SDK's variables from the file did not reach its profile: %v", c.Temporal.Profile.GRPCMeta)
	}

	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("CERTFLOW_DB=x\nthis is not a setting\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Parse("test", CommonSettings, nil, []string{"CERTFLOW_CONFIG=" + bad}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), bad+" line 2") {
		t.Errorf("bad line: %v, want the file and line named", err)
	}
}

func TestNewPoliciesNamesTheSetting(t *testing.T) {
	if _, err := NewPolicies(filepath.Join(t.TempDir(), "missing"), ""); err == nil || !strings.Contains(err.Error(), "CERTFLOW_PROFILE_DIR") {
		t.Errorf("missing profile dir: %v", err)
	}
	if _, err := NewPolicies("", filepath.Join(t.TempDir(), "cal.json")); err == nil || !strings.Contains(err.Error(), "CERTFLOW_CALENDAR_FILE") {
		t.Errorf("missing calendar: %v", err)
	}
	p, err := NewPolicies("", "")
	if err != nil || p.Registry == nil {
		t.Fatalf("shipped policies: %v", err)
	}
}

func TestOpenReleasesWhatItBuiltOnError(t *testing.T) {
	v, err := Parse("test", CommonSettings, nil, []string{"CERTFLOW_DB=" + filepath.Join(t.TempDir(), "no", "such", "dir", "c.db")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCommon(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := Open(ctx, c, "test", zap.NewNop())
	if err == nil || a != nil || !strings.Contains(err.Error(), "CERTFLOW_DB") {
		t.Errorf("Open = %v, %v; want no App and an error naming CERTFLOW_DB", a, err)
	}
}

func TestOldTLSVariablesAreRefused(t *testing.T) {
	v, err := Parse("test", CommonSettings, nil, []string{"CERTFLOW_DB=x.db", "TEMPORAL_TLS_CERT=client.pem"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCommon(v); err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_CERT is no longer read: set TEMPORAL_TLS_CLIENT_CERT_PATH") {
		t.Errorf("old variable: %v", err)
	}
}

func TestBuildIDOf(t *testing.T) {
	rev := "0a8fcf2b1c3d4e5f60718293a4b5c6d7e8f90a1b"
	for name, c := range map[string]struct {
		info debug.BuildInfo
		want string
	}{
		"revision":        {debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}}, "0a8fcf2b1c3d"},
		"modified tree":   {debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}}, "0a8fcf2b1c3d-dirty"},
		"module version":  {debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		"nothing to know": {debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, ""},
	} {
		if got := buildIDOf(&c.info); got != c.want {
			t.Errorf("%s: build ID %q, want %q", name, got, c.want)
		}
	}
}

func TestVersioning(t *testing.T) {
	parse := func(environ ...string) (Versioning, error) {
		v, err := Parse("test", VersioningSettings, nil, environ, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseVersioning(v)
		if err != nil {
			return c, err
		}
		return c, c.Validate()
	}
	c, err := parse()
	if err != nil || c.Enabled || c.DeploymentName != DefaultDeploymentName || c.DeploymentOptions().UseVersioning {
		t.Errorf("defaults: %+v, %v; want off, deployment %q", c, err, DefaultDeploymentName)
	}
	c, err = parse("CERTFLOW_VERSIONING=true", "CERTFLOW_BUILD_ID=b1", "CERTFLOW_DEPLOYMENT_NAME=cf")
	if o := c.DeploymentOptions(); err != nil || !o.UseVersioning || o.Version.DeploymentName != "cf" || o.Version.BuildID != "b1" {
		t.Errorf("on: %+v, %v", o, err)
	}
	for env, want := range map[string]string{
		"CERTFLOW_DEPLOYMENT_NAME=a.b": "must not contain a dot",
		"CERTFLOW_BUILD_ID=__x":        "not start with __",
	} {
		if _, err := parse("CERTFLOW_VERSIONING=true", "CERTFLOW_BUILD_ID=b1", env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", env, err, want)
		}
	}
	// A test binary has no VCS revision: the build ID must be given.
	if _, err := parse("CERTFLOW_VERSIONING=true"); err == nil || !strings.Contains(err.Error(), "CERTFLOW_BUILD_ID is required") {
		t.Errorf("no build ID: %v", err)
	}
}
