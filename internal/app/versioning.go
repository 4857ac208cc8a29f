package app

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"go.temporal.io/sdk/worker"
)

// DefaultDeploymentName is the Worker Deployment certflow's workers join
// unless CERTFLOW_DEPLOYMENT_NAME says otherwise.
const DefaultDeploymentName = "certflow"

// Versioning is the worker's Worker Versioning (docs/operations.md,
// "Rolling out a new build"): with Enabled, the worker polls as version
// DeploymentName/BuildID of a Worker Deployment, and a refund stays on
// the build it started on.
type Versioning struct {
	Enabled        bool
	DeploymentName string
	// BuildID identifies this build of the worker; by default the
	// binary's VCS revision (BuildID()).
	BuildID string
}

// VersioningSettings are Versioning's flags and environment variables.
var VersioningSettings = []Setting{
	Set("versioning", "CERTFLOW_VERSIONING", "false", "poll as a Worker Deployment version (Worker Versioning); make that version current before it gets work"),
	Set("deployment-name", "CERTFLOW_DEPLOYMENT_NAME", DefaultDeploymentName, "Worker Deployment name, with -versioning"),
	Set("build-id", "CERTFLOW_BUILD_ID", "", "this build's ID in the deployment, with -versioning (default: the binary's VCS revision)"),
}

// ParseVersioning reads Versioning from v; an unset build ID is the
// binary's (BuildID).
func ParseVersioning(v *Values) (Versioning, error) {
	var (
		c   Versioning
		err error
	)
	c.Enabled, err = v.Bool("CERTFLOW_VERSIONING")
	c.DeploymentName = v.String("CERTFLOW_DEPLOYMENT_NAME")
	c.BuildID = v.String("CERTFLOW_BUILD_ID")
	if c.BuildID == "" {
		c.BuildID = BuildID()
	}
	return c, err
}

// Validate names the setting at fault. Off, nothing is checked.
func (c Versioning) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.DeploymentName == "" {
		return errors.New("CERTFLOW_DEPLOYMENT_NAME is required with CERTFLOW_VERSIONING")
	}
	// The server joins the two with a dot into the version's name.
	if strings.Contains(c.DeploymentName, ".") || len(c.DeploymentName) > 255 {
		return fmt.Errorf("CERTFLOW_DEPLOYMENT_NAME %q must not contain a dot and be at most 255 characters", c.DeploymentName)
	}
	if c.BuildID == "" {
		return errors.New("CERTFLOW_BUILD_ID is required with CERTFLOW_VERSIONING: this binary carries no VCS revision to take it from (built outside a git checkout, e.g. in the Docker image); set it to the release's tag")
	}
	if len(c.BuildID) > 255 || strings.HasPrefix(c.BuildID, "__") {
		return fmt.Errorf("CERTFLOW_BUILD_ID %q must be at most 255 characters and not start with __", c.BuildID)
	}
	return nil
}

// Version is the Worker Deployment version the worker polls as.
func (c Versioning) Version() worker.WorkerDeploymentVersion {
	return worker.WorkerDeploymentVersion{DeploymentName: c.DeploymentName, BuildID: c.BuildID}
}

// DeploymentOptions are the worker options of c: none when off. No
// default behaviour is set, so a workflow registered without its own
// (workflows.Register sets them) fails at registration, not in production.
func (c Versioning) DeploymentOptions() worker.DeploymentOptions {
	if !c.Enabled {
		return worker.DeploymentOptions{}
	}
	return worker.DeploymentOptions{UseVersioning: true, Version: c.Version()}
}

// BuildID is this binary's build ID: its VCS revision (12 characters,
// "-dirty" when built from a modified tree), else its module version (a
// binary installed with go install …@version), else "" (a test binary, or
// one built without VCS information).
func BuildID() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return buildIDOf(info)
}

func buildIDOf(info *debug.BuildInfo) string {
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "-dirty"
		}
		return rev
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return ""
}
