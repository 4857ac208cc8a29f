package temporalx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// SetCurrentVersion makes v the current version of its Worker Deployment,
// as `temporal worker deployment set-current-version` does: new workflows
// (and AutoUpgrade ones at their next task) then go to v's workers. The
// server knows a version once its workers have polled every task queue
// they serve, so it tries again every interval until it succeeds or ctx
// ends; the last refusal is returned then.
func SetCurrentVersion(ctx context.Context, c client.Client, v worker.WorkerDeploymentVersion, interval time.Duration) error {
	h := c.WorkerDeploymentClient().GetHandle(v.DeploymentName)
	var last error
	for {
		d, err := h.DescribeVersion(ctx, client.WorkerDeploymentDescribeVersionOptions{BuildID: v.BuildID})
		switch {
		case err != nil:
			last = fmt.Errorf("version %s/%s not registered yet: %w", v.DeploymentName, v.BuildID, err)
		case !slices.ContainsFunc(d.Info.TaskQueuesInfos, func(q client.WorkerDeploymentTaskQueueInfo) bool { return q.Type == client.TaskQueueTypeWorkflow }):
			last = fmt.Errorf("version %s/%s has no workflow task queue yet", v.DeploymentName, v.BuildID)
		default:
			if _, err := h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: v.BuildID}); err == nil {
				return nil
			} else {
				last = fmt.Errorf("setting %s/%s current: %w", v.DeploymentName, v.BuildID, err)
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}
