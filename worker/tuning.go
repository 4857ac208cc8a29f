package main

import (
	"fmt"
	"strconv"

	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/internal/app"
)

// Tuning is the worker's capacity: how many workflows it keeps cached
// between tasks, how many pollers it runs and how many tasks it executes
// at once. The defaults are chosen from the waiting-at-scale figures of
// `make bench-e2e` (docs/performance.md, "Memory at scale"); 0 for a
// poller or concurrency setting means the SDK's default.
type Tuning struct {
	// StickyCacheSize is the most workflows kept in memory between their
	// tasks (the SDK's sticky cache, shared by the whole process). A
	// workflow evicted from it is rebuilt by replaying its history at its
	// next task: memory traded for replay CPU.
	StickyCacheSize int
	// WorkflowPollers and ActivityPollers are the concurrent long polls
	// for workflow and activity tasks.
	WorkflowPollers int
	ActivityPollers int
	// MaxWorkflowTasks and MaxActivities bound the tasks executed at once.
	MaxWorkflowTasks int
	MaxActivities    int
}

// DefaultStickyCacheSize keeps the worker's memory bounded when many
// refunds wait at once (a waiting refund is one workflow: it holds its
// certificates and runs their logic itself): the SDK's default of 10,000
// lets a worker with 10,000 waiting refunds grow past 300 MB, while every
// refund a review or an update wakes after eviction costs one history
// replay (a few dozen events).
const DefaultStickyCacheSize = 2000

// DefaultPollers is how many workflow task polls and how many activity
// task polls the worker keeps open. The SDK's 2 (one of them for the
// sticky queue) let a burst of updates queue behind one sticky poll: with
// 1,600 refunds awaiting approval and 2,000 at a review on the real
// server, 200 approvals at once took p99 30.8 s, many of their workflow
// tasks timing out on the sticky queue (5 s) before a poll took them; with
// 8 each, p99 2.8 s (docs/BENCHMARKS.md, 2026-12-06 15:02 and 15:42). The
// bench's baseline worker polls with as many (bench.BaselinePollers).
const DefaultPollers = 8

// tuningSettings are Tuning's flags and environment variables, in help
// order.
var tuningSettings = []app.Setting{
	app.Set("sticky-cache-size", "CERTFLOW_STICKY_CACHE_SIZE", strconv.Itoa(DefaultStickyCacheSize), "workflows kept in memory between tasks (the SDK's sticky cache)"),
	app.Set("workflow-pollers", "CERTFLOW_WORKFLOW_POLLERS", strconv.Itoa(DefaultPollers), "concurrent workflow task polls (0: the SDK's default, 2)"),
	app.Set("activity-pollers", "CERTFLOW_ACTIVITY_POLLERS", strconv.Itoa(DefaultPollers), "concurrent activity task polls (0: the SDK's default, 2)"),
	app.Set("max-workflow-tasks", "CERTFLOW_MAX_WORKFLOW_TASKS", "0", "workflow tasks executed at once (0: SDK default)"),
	app.Set("max-activities", "CERTFLOW_MAX_ACTIVITIES", "0", "activities executed at once (0: SDK default)"),
}

// parseTuning reads Tuning from v, naming the setting at fault.
func parseTuning(v *app.Values) (Tuning, error) {
	var (
		t   Tuning
		e   app.Errors
		err error
	)
	for _, f := range []struct {
		env string
		n   *int
	}{
		{"CERTFLOW_STICKY_CACHE_SIZE", &t.StickyCacheSize},
		{"CERTFLOW_WORKFLOW_POLLERS", &t.WorkflowPollers},
		{"CERTFLOW_ACTIVITY_POLLERS", &t.ActivityPollers},
		{"CERTFLOW_MAX_WORKFLOW_TASKS", &t.MaxWorkflowTasks},
		{"CERTFLOW_MAX_ACTIVITIES", &t.MaxActivities},
	} {
		*f.n, err = v.Int(f.env)
		e.Check(err)
	}
	return t, e.Err()
}

// Validate names the setting at fault.
func (t Tuning) Validate() error {
	for _, v := range []struct {
		env string
		n   int
		min int
	}{
		{"CERTFLOW_STICKY_CACHE_SIZE", t.StickyCacheSize, 1},
		{"CERTFLOW_WORKFLOW_POLLERS", t.WorkflowPollers, 0},
		{"CERTFLOW_ACTIVITY_POLLERS", t.ActivityPollers, 0},
		{"CERTFLOW_MAX_WORKFLOW_TASKS", t.MaxWorkflowTasks, 0},
		{"CERTFLOW_MAX_ACTIVITIES", t.MaxActivities, 0},
	} {
		if v.n < v.min {
			return fmt.Errorf("%s must be at least %d, not %d", v.env, v.min, v.n)
		}
	}
	// The SDK needs two workflow task slots: one for the sticky queue,
	// one for the normal queue.
	if t.MaxWorkflowTasks == 1 {
		return fmt.Errorf("CERTFLOW_MAX_WORKFLOW_TASKS must be 0 (SDK default) or at least 2, not 1")
	}
	return nil
}

// apply sets the process-wide sticky cache size (before any worker is
// created, as the SDK requires) and returns the worker options with the
// pollers and concurrency limits set. A zero Tuning (a Config built
// without parseConfig) leaves the SDK's defaults.
func (t Tuning) apply(o worker.Options) worker.Options {
	if t.StickyCacheSize > 0 {
		worker.SetStickyWorkflowCacheSize(t.StickyCacheSize)
	}
	o.MaxConcurrentWorkflowTaskPollers = t.WorkflowPollers
	o.MaxConcurrentActivityTaskPollers = t.ActivityPollers
	o.MaxConcurrentWorkflowTaskExecutionSize = t.MaxWorkflowTasks
	o.MaxConcurrentActivityExecutionSize = t.MaxActivities
	return o
}
