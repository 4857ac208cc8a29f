package main

import (
	"io"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/bench"
)

func TestTuningIsReadFromFlagsAndEnvironment(t *testing.T) {
	c, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Tuning{StickyCacheSize: DefaultStickyCacheSize, WorkflowPollers: DefaultPollers, ActivityPollers: DefaultPollers}); c.Tuning != want {
		t.Errorf("default tuning = %+v, want %+v (the task executions at the SDK's defaults)", c.Tuning, want)
	}
	if DefaultPollers != bench.BaselinePollers {
		t.Errorf("the worker polls %d at once by default, the bench's baseline worker %d: the comparison would not be like for like",
			DefaultPollers, bench.BaselinePollers)
	}
	c, err = parseConfig([]string{"-max-activities", "64"}, env(map[string]string{
		"CERTFLOW_STICKY_CACHE_SIZE": "500", "CERTFLOW_WORKFLOW_POLLERS": "4", "CERTFLOW_ACTIVITY_POLLERS": "3",
		"CERTFLOW_MAX_WORKFLOW_TASKS": "20", "CERTFLOW_MAX_ACTIVITIES": "10"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Tuning{StickyCacheSize: 500, WorkflowPollers: 4, ActivityPollers: 3, MaxWorkflowTasks: 20, MaxActivities: 64}
	if c.Tuning != want {
		t.Errorf("tuning = %+v, want %+v", c.Tuning, want)
	}
	o := c.Tuning.apply(worker.Options{})
	if o.MaxConcurrentWorkflowTaskPollers != 4 || o.MaxConcurrentActivityTaskPollers != 3 ||
		o.MaxConcurrentWorkflowTaskExecutionSize != 20 || o.MaxConcurrentActivityExecutionSize != 64 {
		t.Errorf("worker options = %+v", o)
	}
}

func TestTuningRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"zero sticky cache":         {map[string]string{"CERTFLOW_STICKY_CACHE_SIZE": "0"}, "CERTFLOW_STICKY_CACHE_SIZE must be at least 1"},
		"negative pollers":          {map[string]string{"CERTFLOW_WORKFLOW_POLLERS": "-1"}, "CERTFLOW_WORKFLOW_POLLERS"},
		"one workflow task slot":    {map[string]string{"CERTFLOW_MAX_WORKFLOW_TASKS": "1"}, "CERTFLOW_MAX_WORKFLOW_TASKS must be 0"},
		"not a number":              {map[string]string{"CERTFLOW_MAX_ACTIVITIES": "lots"}, "CERTFLOW_MAX_ACTIVITIES"},
		"negative activity pollers": {map[string]string{"CERTFLOW_ACTIVITY_POLLERS": "-2"}, "CERTFLOW_ACTIVITY_POLLERS"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig(nil, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
