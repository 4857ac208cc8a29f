package certificate

import (
	"context"
	"net/http"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/statemachine"
	"go.uber.org/zap"
)

// The certificate's console API: its status and the console's actions.
// The gateway mounts these handlers behind its authentication, rate limits
// and path checks (gateway.routes); they answer with the API's wire types
// (package api), mapped from the workflow's status below.

// API serves the certificate's routes.
type API struct {
	Temporal Temporal
	Store    Store
	// Holders reaches the refund that holds a certificate while it
	// releases it (then no certificate workflow runs for it).
	Holders Holders
	HTTP    *httpapi.Responder
	// Log receives warnings; nil means none.
	Log *zap.Logger
}

// Temporal is what the certificate's API asks of Temporal; Client
// implements it.
type Temporal interface {
	// CertificateRunning reports whether the certificate's workflow runs.
	CertificateRunning(ctx context.Context, certID string) (bool, error)
	// CertificateAction sends a console action to the certificate's
	// workflow, starting the workflow from in if it is not running; the
	// validator's refusal comes back as the error.
	CertificateAction(ctx context.Context, in Input, updateID string, req ActionRequest) (Status, error)
	// CertificateStatus queries the certificate's workflow (NotFound when
	// it never ran).
	CertificateStatus(ctx context.Context, certID string) (Status, error)
}

var _ Temporal = (*Client)(nil)

// Store is what the certificate's API reads of the store; an unknown
// certificate is errs.NotFound.
type Store interface {
	// GetCertificate returns a certificate with the ID of its order.
	GetCertificate(ctx context.Context, certID string) (orderID string, cert domain.Certificate, err error)
	// CertificateHolder names the certificate's one writer by its workflow
	// ID ("" when nobody holds it).
	CertificateHolder(ctx context.Context, certID string) (string, error)
}

// Holders reach the workflow that holds a certificate when it is not the
// certificate's own: the refund releasing it, which runs the certificate
// itself (a Runner) and takes its actions as an update. The gateway wires
// it to the refund's client (this package cannot import the refund's,
// which imports it).
type Holders interface {
	// Holds tells whether holder (as the store names it) is such a
	// workflow.
	Holds(holder string) bool
	// HeldAction sends req to it and waits for the outcome; errs.NotFound
	// when it no longer runs or no longer holds the certificate (the
	// action then goes to the certificate's workflow).
	HeldAction(ctx context.Context, holder, updateID, certID string, req ActionRequest) (Status, error)
}

func (s *API) log() *zap.Logger {
	if s.Log != nil {
		return s.Log
	}
	return zap.NewNop()
}

// Action sends a console action to the certificate's one
// writer: as an update to the refund that holds it, or to the
// certificate's workflow, starting the workflow from the store's record
// if none runs. Whether the action is legal in the certificate's state is
// the writer's validator's call (409 illegal_transition when not).
func (s *API) Action(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	action := statemachine.CertEvent(r.PathValue("action"))
	if !statemachine.IsConsoleAction(action) {
		s.HTTP.Error(w, r, errs.E(errs.NotFound, "unknown certificate action %q; the actions are submit, withdraw, cancel, resubmit, revoke, delete, activate", httpapi.Clip(string(action))))
		return
	}
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	var body api.ActionRequest // the actor is the token's subject
	if err := s.HTTP.Decode(w, r, &body); err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	certID := r.PathValue("id")
	in, err := s.input(ctx, certID)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	holder, err := s.Store.CertificateHolder(ctx, certID)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	by := httpapi.ActorOf(r)
	req := ActionRequest{Action: action, Actor: by.Subject, ConfirmIrreversible: body.ConfirmIrreversible, By: by}
	view, err := s.act(ctx, in, holder, httpapi.UpdateID(r.URL.Path, key), req)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, view)
}

// act sends req to the certificate's holder as the store named it. A
// refund that no longer runs (or no longer holds the certificate) hands
// it over: the certificate is read again, since the refund changed it,
// and the action goes to the certificate's workflow. A certificate
// workflow that refuses with a conflict may have met a refund that took
// the hold in between (it refuses and ends): the holder is read again
// and, when a refund holds the certificate now, the action goes to it,
// once. So an action reaches at most refund, certificate, refund.
func (s *API) act(ctx context.Context, in Input, holder, updateID string, req ActionRequest) (api.CertificateView, error) {
	view := api.CertificateView{WorkflowID: WorkflowID(in.Certificate.ID), Source: api.CertificateViewSourceWorkflow}
	if s.Holders.Holds(holder) {
		st, err := s.Holders.HeldAction(ctx, holder, updateID, in.Certificate.ID, req)
		if errs.CodeOf(err) != errs.NotFound {
			view.Status, view.HeldBy = Wire(st), holder
			return view, err
		}
		if in, err = s.input(ctx, in.Certificate.ID); err != nil {
			return api.CertificateView{}, err
		}
	}
	st, err := s.workflowAction(ctx, in, updateID, req)
	if errs.CodeOf(err) != errs.Conflict {
		view.Status = Wire(st)
		return view, err
	}
	now, herr := s.Store.CertificateHolder(ctx, in.Certificate.ID)
	if herr != nil || !s.Holders.Holds(now) {
		return api.CertificateView{}, err
	}
	s.log().Info("certificate action: a refund took the hold meanwhile; sending it there",
		zap.String("certificate", in.Certificate.ID), zap.String("holder", now), zap.String("action", string(req.Action)))
	st, rerr := s.Holders.HeldAction(ctx, now, updateID, in.Certificate.ID, req)
	if errs.CodeOf(rerr) == errs.NotFound {
		// That refund ended too: the certificate workflow's refusal
		// stands; a retry finds the holder of the moment.
		return api.CertificateView{}, err
	}
	view.Status, view.HeldBy = Wire(st), now
	return view, rerr
}

// workflowAction sends req to the certificate's workflow. A
// refused action must not leave a workflow behind: when none runs, the
// action is judged against the stored state before one is started (the
// workflow's validator judges it again).
func (s *API) workflowAction(ctx context.Context, in Input, updateID string, req ActionRequest) (Status, error) {
	running, err := s.Temporal.CertificateRunning(ctx, in.Certificate.ID)
	if err != nil {
		return Status{}, err
	}
	if !running {
		if err := judgeAction(in.Certificate.State, req); err != nil {
			return Status{}, err
		}
	}
	return s.Temporal.CertificateAction(ctx, in, updateID, req)
}

// judgeAction applies the rules the certificate workflow's validator
// applies: the transition must exist (409 illegal_transition), and an
// irreversible one must be confirmed (SSL-9, 422).
func judgeAction(state statemachine.CertState, req ActionRequest) error {
	if _, err := statemachine.CertTransition(state, req.Action); err != nil {
		return err
	}
	if statemachine.IsIrreversible(req.Action) && !req.ConfirmIrreversible {
		return errs.R(errs.Invalid, []string{"SSL-9"}, "SSL-9: %s cannot be undone; confirm_irreversible must be true", req.Action)
	}
	return nil
}

// input builds the input that starts a certificate's workflow
// from the store's record of the
func (s *API) input(ctx context.Context, certID string) (Input, error) {
	orderID, cert, err := s.Store.GetCertificate(ctx, certID)
	if err != nil {
		return Input{}, err
	}
	return Input{Certificate: cert, OrderID: orderID}, nil
}

// Status answers from the store, naming the refund (HeldBy),
// when a refund holds the certificate: no certificate workflow runs then,
// and one that ran before is out of date. Otherwise it queries the
// certificate's workflow, falling back to the store when no workflow runs
// for it (a certificate nobody acted on yet, or one removed) or Temporal
// cannot answer. A holder the store cannot tell is no reason to refuse
// the status: the workflow is asked as before.
func (s *API) Status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	certID := r.PathValue("id")
	view := api.CertificateView{WorkflowID: WorkflowID(certID), Source: api.CertificateViewSourceWorkflow}
	holder, err := s.Store.CertificateHolder(ctx, certID)
	if err == nil && s.Holders.Holds(holder) {
		orderID, cert, err := s.Store.GetCertificate(ctx, certID)
		if err != nil {
			s.HTTP.Error(w, r, err)
			return
		}
		view.Source, view.Status, view.HeldBy = api.CertificateViewSourceStore, StatusFromStore(orderID, cert), holder
		httpapi.JSON(w, http.StatusOK, view)
		return
	}
	if err != nil && errs.CodeOf(err) != errs.NotFound {
		s.log().Warn("certificate status: the store did not name the holder", zap.String("certificate", certID), zap.Error(err))
	}
	st, wfErr := s.Temporal.CertificateStatus(ctx, certID)
	if wfErr == nil {
		view.Status = Wire(st)
		httpapi.JSON(w, http.StatusOK, view)
		return
	}
	orderID, cert, err := s.Store.GetCertificate(ctx, certID)
	switch {
	case err == nil:
		if errs.CodeOf(wfErr) != errs.NotFound {
			s.log().Warn("certificate status from the store: workflow did not answer", zap.String("certificate", certID), zap.Error(wfErr))
		}
		view.Source, view.Status = api.CertificateViewSourceStore, StatusFromStore(orderID, cert)
		httpapi.JSON(w, http.StatusOK, view)
	case errs.CodeOf(err) == errs.NotFound && errs.CodeOf(wfErr) != errs.NotFound:
		s.HTTP.Error(w, r, wfErr)
	default:
		s.HTTP.Error(w, r, err)
	}
}

// StatusFromStore is the status of a certificate no workflow answers
// for: its stored state and quota, no transitions.
func StatusFromStore(orderID string, c domain.Certificate) api.CertificateStatus {
	return Wire(Status{
		ID:            c.ID,
		OrderID:       orderID,
		State:         c.State,
		Transitions:   []Transition{},
		QuotaReturned: c.QuotaReturned,
	})
}

// Wire is a certificate's status as the API shows it: its
// state, transitions, held CA results, open review and audit trail (not
// the workflow's own bookkeeping: stray results, the report to its
// parent).
func Wire(st Status) api.CertificateStatus {
	w := api.CertificateStatus{
		ID:            st.ID,
		OrderID:       st.OrderID,
		State:         st.State,
		Transitions:   make([]api.Transition, 0, len(st.Transitions)),
		QuotaReturned: st.QuotaReturned,
		Audit:         api.Array(st.Audit),
	}
	for _, t := range st.Transitions {
		w.Transitions = append(w.Transitions, api.Transition{From: t.From, To: t.To, Event: t.Event, At: t.At, Source: t.Source, EventID: t.EventID})
	}
	for _, h := range st.Held {
		w.Held = append(w.Held, api.HeldResult{EventID: h.EventID, Certificate: h.Certificate, Result: h.Result, Reason: h.Reason, At: h.At})
	}
	if r := st.Review; r != nil {
		w.Review = &api.Review{ID: r.ID, SubmittedAt: r.SubmittedAt}
	}
	return w
}
