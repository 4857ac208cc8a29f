package gateway

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

func TestCertificateAction(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodPost, "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`, asConsole...)
	wantStatus(t, rec, http.StatusOK)
	v := decodeInto[CertificateView](t, rec)
	if v.WorkflowID != "certificate/c-1" || v.Source != SourceWorkflow || v.Status.State != statemachine.ValidatingRevocation {
		t.Errorf("view = %+v", v)
	}
	wantIn := workflows.CertificateInput{OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued}}
	if len(e.wf.actionInputs) != 1 || !reflect.DeepEqual(e.wf.actionInputs[0], wantIn) {
		t.Errorf("start input = %+v, want %+v", e.wf.actionInputs, wantIn)
	}
	wantReq := workflows.ActionRequest{Action: statemachine.Revoke, Actor: "console-backend", ConfirmIrreversible: true}
	if !reflect.DeepEqual(e.wf.actions[0], wantReq) {
		t.Errorf("action = %+v, want %+v", e.wf.actions[0], wantReq)
	}
}

func TestCertificateActionRefusals(t *testing.T) {
	tests := map[string]struct {
		path     string
		body     string
		err      error
		status   int
		code     errs.Code
		mentions string
		rules    []string
		running  bool
		reached  bool
	}{
		// No workflow runs for c-1: a refused action is judged before one
		// would start, so none is left behind.
		"illegal transition": {
			path: "/v1/certificates/c-1/actions/submit", status: 409, code: errs.IllegalTransition, mentions: "submit",
		},
		"revoke not confirmed": {
			path: "/v1/certificates/c-1/actions/revoke", status: 422, code: errs.Invalid, mentions: "SSL-9", rules: []string{"SSL-9"},
		},
		"revoke not confirmed, workflow running": {
			path: "/v1/certificates/c-1/actions/revoke", running: true,
			err:    errs.R(errs.Invalid, []string{"SSL-9"}, "SSL-9: revoke cannot be undone; confirm_irreversible must be true"),
			status: 422, code: errs.Invalid, mentions: "SSL-9", rules: []string{"SSL-9"}, reached: true,
		},
		"owned by a refund": {
			path: "/v1/certificates/c-1/actions/revoke", body: `{"confirm_irreversible":true}`, err: errs.E(errs.Conflict, "certificate c-1 is being released by refund/o-1"),
			status: 409, code: errs.Conflict, mentions: "refund/o-1", reached: true,
		},
		"unknown action":      {path: "/v1/certificates/c-1/actions/explode", status: 404, code: errs.NotFound, mentions: `unknown certificate action "explode"`},
		"CA result as action": {path: "/v1/certificates/c-1/actions/issued", status: 404, code: errs.NotFound, mentions: "unknown certificate action"},
		"unknown certificate": {path: "/v1/certificates/c-9/actions/cancel", status: 404, code: errs.NotFound, mentions: "certificate c-9"},
		"temporal down": {
			path: "/v1/certificates/c-1/actions/revoke", body: `{"confirm_irreversible":true}`, err: errs.E(errs.Unavailable, "the workflow of certificate c-1 did not answer in time; retry"),
			status: 503, code: errs.Unavailable, mentions: "retry", reached: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.wf.actionErr = tc.err
			if tc.running {
				e.wf.certs["c-1"] = workflows.CertificateStatus{ID: "c-1", State: statemachine.Issued}
			}
			d := wantError(t, e.do(t, http.MethodPost, tc.path, tc.body), tc.status, tc.code, tc.mentions)
			if !reflect.DeepEqual(d.Rules, tc.rules) {
				t.Errorf("rules = %v, want %v", d.Rules, tc.rules)
			}
			if reached := len(e.wf.actions) > 0; reached != tc.reached {
				t.Errorf("workflow reached = %v, want %v", reached, tc.reached)
			}
		})
	}
}

func TestCertificateStatus(t *testing.T) {
	tests := map[string]struct {
		path     string
		running  bool
		wfErr    error
		status   int
		source   string
		code     errs.Code
		mentions string
	}{
		"from the workflow":             {path: "/v1/certificates/c-1", running: true, status: 200, source: SourceWorkflow},
		"no workflow, from the store":   {path: "/v1/certificates/c-1", status: 200, source: SourceStore},
		"temporal down, from the store": {path: "/v1/certificates/c-1", wfErr: errs.E(errs.Unavailable, "down"), status: 200, source: SourceStore},
		"unknown certificate":           {path: "/v1/certificates/c-9", status: 404, code: errs.NotFound, mentions: "certificate c-9"},
		"temporal down, not in store":   {path: "/v1/certificates/c-9", wfErr: errs.E(errs.Unavailable, "did not answer"), status: 503, code: errs.Unavailable, mentions: "did not answer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.running {
				e.wf.certs["c-1"] = workflows.CertificateStatus{ID: "c-1", OrderID: "o-1", State: statemachine.ValidatingRevocation,
					Transitions: []workflows.Transition{{From: statemachine.Issued, To: statemachine.ValidatingRevocation, Event: statemachine.Revoke}}}
			}
			e.wf.certStatusErr = tc.wfErr
			rec := e.do(t, http.MethodGet, tc.path, "")
			if tc.code != "" {
				wantError(t, rec, tc.status, tc.code, tc.mentions)
				return
			}
			wantStatus(t, rec, tc.status)
			v := decodeInto[CertificateView](t, rec)
			if v.Source != tc.source || v.WorkflowID != "certificate/c-1" || v.Status.OrderID != "o-1" {
				t.Errorf("view = %+v", v)
			}
			wantState := statemachine.Issued
			if tc.running {
				wantState = statemachine.ValidatingRevocation
			}
			if v.Status.State != wantState || v.Status.Transitions == nil {
				t.Errorf("status = %+v, want state %s", v.Status, wantState)
			}
		})
	}
}
