package gateway

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// CertificateView is the answer of GET /v1/certificates/{id} and of a
// certificate action. Source says whether Status came from the
// certificate's workflow or, when no workflow runs for it, from the store
// (state and quota only, no transitions).
//
// HeldBy is the workflow ID of the refund that holds the certificate
// while it releases it (no certificate workflow runs then; the refund
// applies the certificate's actions and CA results), so an operator finds
// it in the Web UI; empty when no refund holds it.
type CertificateView = api.CertificateView

// certificateAction sends a console action to the certificate's one
// writer: as an update to the refund that holds it, or to the
// certificate's workflow, starting the workflow from the store's record
// if none runs. Whether the action is legal in the certificate's state is
// the writer's validator's call (409 illegal_transition when not).
func (s *Server) certificateAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	action := statemachine.CertEvent(r.PathValue("action"))
	if !statemachine.IsConsoleAction(action) {
		s.http.Error(w, r, errs.E(errs.NotFound, "unknown certificate action %q; the actions are submit, withdraw, cancel, resubmit, revoke, delete, activate", httpapi.Clip(string(action))))
		return
	}
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	var body api.ActionRequest // the actor is the token's subject
	if err := s.http.Decode(w, r, &body); err != nil {
		s.http.Error(w, r, err)
		return
	}
	certID := r.PathValue("id")
	in, err := s.certificateInput(ctx, certID)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	holder, err := s.orders.CertificateHolder(ctx, certID)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	by := httpapi.ActorOf(r)
	req := certificate.ActionRequest{Action: action, Actor: by.Subject, ConfirmIrreversible: body.ConfirmIrreversible, By: by}
	view, err := s.act(ctx, in, holder, httpapi.UpdateID(r.URL.Path, key), req)
	if err != nil {
		s.http.Error(w, r, err)
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
func (s *Server) act(ctx context.Context, in certificate.Input, holder, updateID string, req certificate.ActionRequest) (CertificateView, error) {
	view := CertificateView{WorkflowID: certificate.WorkflowID(in.Certificate.ID), Source: SourceWorkflow}
	if orderID, ok := refundHolding(holder); ok {
		st, err := s.refundAction(ctx, orderID, updateID, in.Certificate.ID, req)
		if errs.CodeOf(err) != errs.NotFound {
			view.Status, view.HeldBy = wireCertificate(st), holder
			return view, err
		}
		if in, err = s.certificateInput(ctx, in.Certificate.ID); err != nil {
			return CertificateView{}, err
		}
	}
	st, err := s.certificateWorkflowAction(ctx, in, updateID, req)
	if errs.CodeOf(err) != errs.Conflict {
		view.Status = wireCertificate(st)
		return view, err
	}
	now, herr := s.orders.CertificateHolder(ctx, in.Certificate.ID)
	orderID, ok := refundHolding(now)
	if herr != nil || !ok {
		return CertificateView{}, err
	}
	s.log.Info("certificate action: a refund took the hold meanwhile; sending it there",
		zap.String("certificate", in.Certificate.ID), zap.String("holder", now), zap.String("action", string(req.Action)))
	st, rerr := s.refundAction(ctx, orderID, updateID, in.Certificate.ID, req)
	if errs.CodeOf(rerr) == errs.NotFound {
		// That refund ended too: the certificate workflow's refusal
		// stands; a retry finds the holder of the moment.
		return CertificateView{}, err
	}
	view.Status, view.HeldBy = wireCertificate(st), now
	return view, rerr
}

// refundAction sends req as the holding refund's certificate-action
// update.
func (s *Server) refundAction(ctx context.Context, orderID, updateID, certID string, req certificate.ActionRequest) (certificate.Status, error) {
	return s.wf.RefundCertificateAction(ctx, orderID, updateID, refund.CertificateAction{Certificate: certID, ActionRequest: req})
}

// certificateWorkflowAction sends req to the certificate's workflow. A
// refused action must not leave a workflow behind: when none runs, the
// action is judged against the stored state before one is started (the
// workflow's validator judges it again).
func (s *Server) certificateWorkflowAction(ctx context.Context, in certificate.Input, updateID string, req certificate.ActionRequest) (certificate.Status, error) {
	running, err := s.wf.CertificateRunning(ctx, in.Certificate.ID)
	if err != nil {
		return certificate.Status{}, err
	}
	if !running {
		if err := judgeAction(in.Certificate.State, req); err != nil {
			return certificate.Status{}, err
		}
	}
	return s.wf.CertificateAction(ctx, in, updateID, req)
}

// judgeAction applies the rules the certificate workflow's validator
// applies: the transition must exist (409 illegal_transition), and an
// irreversible one must be confirmed (SSL-9, 422).
func judgeAction(state statemachine.CertState, req certificate.ActionRequest) error {
	if _, err := statemachine.CertTransition(state, req.Action); err != nil {
		return err
	}
	if statemachine.IsIrreversible(req.Action) && !req.ConfirmIrreversible {
		return errs.R(errs.Invalid, []string{"SSL-9"}, "SSL-9: %s cannot be undone; confirm_irreversible must be true", req.Action)
	}
	return nil
}

// certificateInput builds the input that starts a certificate's workflow
// from the store's record of the certificate.
func (s *Server) certificateInput(ctx context.Context, certID string) (certificate.Input, error) {
	orderID, cert, err := s.orders.GetCertificate(ctx, certID)
	if err != nil {
		return certificate.Input{}, err
	}
	return certificate.Input{Certificate: cert, OrderID: orderID}, nil
}

// certificateStatus answers from the store, naming the refund (HeldBy),
// when a refund holds the certificate: no certificate workflow runs then,
// and one that ran before is out of date. Otherwise it queries the
// certificate's workflow, falling back to the store when no workflow runs
// for it (a certificate nobody acted on yet, or one removed) or Temporal
// cannot answer. A holder the store cannot tell is no reason to refuse
// the status: the workflow is asked as before.
func (s *Server) certificateStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	certID := r.PathValue("id")
	view := CertificateView{WorkflowID: certificate.WorkflowID(certID), Source: SourceWorkflow}
	holder, err := s.orders.CertificateHolder(ctx, certID)
	if _, ok := refundHolding(holder); err == nil && ok {
		orderID, cert, err := s.orders.GetCertificate(ctx, certID)
		if err != nil {
			s.http.Error(w, r, err)
			return
		}
		view.Source, view.Status, view.HeldBy = SourceStore, statusFromCertificate(orderID, cert), holder
		httpapi.JSON(w, http.StatusOK, view)
		return
	}
	if err != nil && errs.CodeOf(err) != errs.NotFound {
		s.log.Warn("certificate status: the store did not name the holder", zap.String("certificate", certID), zap.Error(err))
	}
	st, wfErr := s.wf.CertificateStatus(ctx, certID)
	if wfErr == nil {
		view.Status = wireCertificate(st)
		httpapi.JSON(w, http.StatusOK, view)
		return
	}
	orderID, cert, err := s.orders.GetCertificate(ctx, certID)
	switch {
	case err == nil:
		if errs.CodeOf(wfErr) != errs.NotFound {
			s.log.Warn("certificate status from the store: workflow did not answer", zap.String("certificate", certID), zap.Error(wfErr))
		}
		view.Source, view.Status = SourceStore, statusFromCertificate(orderID, cert)
		httpapi.JSON(w, http.StatusOK, view)
	case errs.CodeOf(err) == errs.NotFound && errs.CodeOf(wfErr) != errs.NotFound:
		s.http.Error(w, r, wfErr)
	default:
		s.http.Error(w, r, err)
	}
}

func statusFromCertificate(orderID string, c domain.Certificate) api.CertificateStatus {
	return wireCertificate(certificate.Status{
		ID:            c.ID,
		OrderID:       orderID,
		State:         c.State,
		Transitions:   []certificate.Transition{},
		QuotaReturned: c.QuotaReturned,
	})
}
