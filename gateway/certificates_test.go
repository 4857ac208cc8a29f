package gateway

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

func TestCertificateAction(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodPost, "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`, asConsole...)
	wantStatus(t, rec, http.StatusOK)
	v := decodeInto[CertificateView](t, rec)
	if v.WorkflowID != "certificate/c-1" || v.Source != SourceWorkflow || v.Status.State != statemachine.ValidatingRevocation {
		t.Errorf("view = %+v", v)
	}
	wantIn := certificate.Input{OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued}}
	if len(e.wf.actionInputs) != 1 || !reflect.DeepEqual(e.wf.actionInputs[0], wantIn) {
		t.Errorf("start input = %+v, want %+v", e.wf.actionInputs, wantIn)
	}
	wantReq := certificate.ActionRequest{Action: statemachine.Revoke, Actor: "console-backend", ConfirmIrreversible: true,
		By: domain.Actor{Subject: "console-backend", Role: domain.RoleConsole}}
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
				e.wf.certs["c-1"] = certificate.Status{ID: "c-1", State: statemachine.Issued}
			}
			d := wantError(t, e.do(t, http.MethodPost, tc.path, tc.body), tc.status, tc.code, tc.mentions)
			if !slices.Equal(d.Rules, tc.rules) {
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
				e.wf.certs["c-1"] = certificate.Status{ID: "c-1", OrderID: "o-1", State: statemachine.ValidatingRevocation,
					Transitions: []certificate.Transition{{From: statemachine.Issued, To: statemachine.ValidatingRevocation, Event: statemachine.Revoke}}}
			}
			e.wf.certStatusErr = tc.wfErr
			rec := e.do(t, http.MethodGet, tc.path, "")
			if tc.code != "" {
				wantError(t, rec, tc.status, tc.code, tc.mentions)
				return
			}
			wantStatus(t, rec, tc.status)
			v := decodeInto[CertificateView](t, rec)
			if string(v.Source) != tc.source || v.WorkflowID != "certificate/c-1" || v.Status.OrderID != "o-1" {
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

// TestCertificateActionRoutedToTheHolder: an action on a certificate a
// refund holds goes to the refund as its certificate-action update, with
// the refund's answer (and refusals) in today's shape. A refund that
// ended hands the certificate over: the certificate is read again (the
// refund changed it) and the certificate's workflow is started from it.
// A certificate workflow that refuses with a conflict because a refund
// took the hold in between is followed by one try at that refund.
func TestCertificateActionRoutedToTheHolder(t *testing.T) {
	held := func(e *env) {
		e.orders.holders["c-1"] = "refund/o-1"
		e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
		e.wf.held["c-1"] = statemachine.Issued
	}
	tests := map[string]struct {
		setup func(*env)
		path  string
		body  string
		// status 200: state and held_by of the answer.
		status int
		state  statemachine.CertState
		heldBy string
		code   errs.Code
		rules  []string
		// What was reached: refund updates, certificate workflow updates,
		// and the certificate's state the certificate workflow started
		// from, holder reads.
		refundActions, certActions int
		startedFrom                statemachine.CertState
		holderReads                int
	}{
		"held by a running refund": {
			setup: held, status: 200, state: statemachine.ValidatingRevocation, heldBy: "refund/o-1",
			refundActions: 1, holderReads: 1,
		},
		"refund refuses: SSL-9 as today": {
			setup: func(e *env) {
				held(e)
				e.wf.refundActionErr = errs.R(errs.Invalid, []string{"SSL-9"}, "SSL-9: revoke cannot be undone; confirm_irreversible must be true")
			},
			status: 422, code: errs.Invalid, rules: []string{"SSL-9"}, refundActions: 1, holderReads: 1,
		},
		"refund refuses an illegal transition": {
			setup: held, path: "/v1/certificates/c-1/actions/delete", body: `{}`,
			status: 409, code: errs.IllegalTransition, refundActions: 1, holderReads: 1,
		},
		"refund ended meanwhile: the certificate's workflow, from the store as the refund left it": {
			setup: func(e *env) {
				e.orders.holders["c-1"] = "refund/o-1"
				// The refund revoked the certificate and ended as the
				// action was sent; from the stale "issued" a delete would
				// be judged illegal.
				e.wf.beforeRefundAction = func() {
					e.orders.orders["o-1"] = sslOrder("o-1", domain.Certificate{ID: "c-1", State: statemachine.Revoked})
					delete(e.orders.holders, "c-1")
				}
			},
			path: "/v1/certificates/c-1/actions/delete", body: `{}`,
			status: 200, state: statemachine.Removed, refundActions: 1, certActions: 1, startedFrom: statemachine.Revoked, holderReads: 1,
		},
		"a refund took the hold as the certificate workflow started: sent to the refund once": {
			setup: func(e *env) {
				e.wf.actionErr = errs.E(errs.Conflict, "certificate c-1 is held by refund/o-1")
				e.wf.beforeAction = func() { held(e) }
			},
			status: 200, state: statemachine.ValidatingRevocation, heldBy: "refund/o-1",
			refundActions: 1, certActions: 1, startedFrom: statemachine.Issued, holderReads: 2,
		},
		"a refund took the hold and ended too: the conflict stands": {
			setup: func(e *env) {
				e.wf.actionErr = errs.E(errs.Conflict, "certificate c-1 is held by refund/o-1")
				e.wf.beforeAction = func() { e.orders.holders["c-1"] = "refund/o-1" }
			},
			status: 409, code: errs.Conflict, refundActions: 1, certActions: 1, startedFrom: statemachine.Issued, holderReads: 2,
		},
		"a conflict with no refund holding it stands": {
			setup:  func(e *env) { e.wf.actionErr = errs.E(errs.Conflict, "the certificate workflow is busy") },
			status: 409, code: errs.Conflict, certActions: 1, startedFrom: statemachine.Issued, holderReads: 2,
		},
		"the store cannot name the holder: 503, nothing sent": {
			setup:  func(e *env) { e.orders.holderErr = errs.E(errs.Unavailable, "database busy") },
			status: 503, code: errs.Unavailable, holderReads: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			path, body := tc.path, tc.body
			if path == "" {
				path, body = "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`
			}
			rec := e.do(t, http.MethodPost, path, body, append(asConsole, "Idempotency-Key", "k-1")...)
			if tc.code != "" {
				d := wantError(t, rec, tc.status, tc.code, "")
				if !slices.Equal(d.Rules, tc.rules) {
					t.Errorf("rules = %v, want %v", d.Rules, tc.rules)
				}
			} else {
				wantStatus(t, rec, tc.status)
				v := decodeInto[CertificateView](t, rec)
				if v.WorkflowID != "certificate/c-1" || v.Source != SourceWorkflow || v.Status.State != tc.state || v.HeldBy != tc.heldBy {
					t.Errorf("view = %+v, want state %s held by %q", v, tc.state, tc.heldBy)
				}
			}
			if len(e.wf.refundActions) != tc.refundActions || len(e.wf.actions) != tc.certActions || e.orders.holderReads != tc.holderReads {
				t.Errorf("refund actions %+v, certificate actions %+v, holder reads %d; want %d, %d, %d",
					e.wf.refundActions, e.wf.actions, e.orders.holderReads, tc.refundActions, tc.certActions, tc.holderReads)
			}
			for _, ra := range e.wf.refundActions {
				action := statemachine.CertEvent(strings.TrimPrefix(path, "/v1/certificates/c-1/actions/"))
				want := refund.CertificateAction{Certificate: "c-1",
					ActionRequest: certificate.ActionRequest{Action: action, Actor: "console-backend", ConfirmIrreversible: action == statemachine.Revoke,
						By: domain.Actor{Subject: "console-backend", Role: domain.RoleConsole, IdempotencyKey: "k-1"}}}
				if ra.OrderID != "o-1" || ra.UpdateID == "" || !reflect.DeepEqual(ra.Request, want) {
					t.Errorf("refund action = %+v, want to o-1 with an update ID and %+v", ra, want)
				}
			}
			if tc.certActions > 0 {
				if got := e.wf.actionInputs[0].Certificate.State; got != tc.startedFrom {
					t.Errorf("certificate workflow started from %s, want %s", got, tc.startedFrom)
				}
				if len(e.wf.refundActions) > 0 && e.wf.refundActions[0].UpdateID != e.wf.updateIDs[0] {
					t.Errorf("update IDs differ: refund %q, certificate %q", e.wf.refundActions[0].UpdateID, e.wf.updateIDs[0])
				}
			}
		})
	}
}

// TestCertificateStatusHeldByRefund: while a refund holds the certificate
// no certificate workflow runs; the status comes from the store and names
// the refund, even when an earlier certificate workflow could still
// answer (out of date). A holder the store cannot name does not stop the
// status: the workflow answers as before.
func TestCertificateStatusHeldByRefund(t *testing.T) {
	e := newEnv(t)
	e.orders.holders["c-1"] = "refund/o-1"
	e.wf.certs["c-1"] = certificate.Status{ID: "c-1", OrderID: "o-1", State: statemachine.ValidatingApplication}
	rec := e.do(t, http.MethodGet, "/v1/certificates/c-1", "")
	wantStatus(t, rec, http.StatusOK)
	v := decodeInto[CertificateView](t, rec)
	if v.Source != SourceStore || v.HeldBy != "refund/o-1" || v.WorkflowID != "certificate/c-1" ||
		v.Status.State != statemachine.Issued || v.Status.OrderID != "o-1" || v.Status.Transitions == nil {
		t.Errorf("view = %+v, want the store's issued certificate held by refund/o-1", v)
	}
	if !strings.Contains(rec.Body.String(), `"held_by":"refund/o-1"`) {
		t.Errorf("body %s does not name held_by", rec.Body)
	}

	e.orders.holderErr = errs.E(errs.Unavailable, "database busy")
	rec = e.do(t, http.MethodGet, "/v1/certificates/c-1", "")
	wantStatus(t, rec, http.StatusOK)
	if v := decodeInto[CertificateView](t, rec); v.Source != SourceWorkflow || v.HeldBy != "" || v.Status.State != statemachine.ValidatingApplication {
		t.Errorf("with the holder unknown, view = %+v; want the workflow's answer", v)
	}
	if strings.Contains(rec.Body.String(), "held_by") {
		t.Errorf("body %s names held_by without a refund holding it", rec.Body)
	}
}
