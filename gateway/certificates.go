package gateway

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

// CertificateView is the answer of GET /v1/certificates/{id} and of a
// certificate action. Source says whether Status came from the
// certificate's workflow or, when no workflow runs for it, from the store
// (state and quota only, no transitions).
type CertificateView struct {
	WorkflowID string                      `json:"workflow_id"`
	Source     string                      `json:"source"`
	Status     workflows.CertificateStatus `json:"status"`
}

// actionBody is the body of POST /v1/certificates/{id}/actions/{action}.
// The actor is the token's subject.
type actionBody struct {
	ConfirmIrreversible bool `json:"confirm_irreversible"`
}

// certificateAction sends a console action as an update to the
// certificate's workflow, starting the workflow from the store's record if
// none runs. Whether the action is legal in the certificate's state is the
// workflow validator's call (409 illegal_transition when not).
func (s *Server) certificateAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	action := statemachine.CertEvent(r.PathValue("action"))
	if !statemachine.IsConsoleAction(action) {
		s.writeError(w, r, errs.E(errs.NotFound, "unknown certificate action %q; the actions are submit, withdraw, cancel, resubmit, revoke, delete, activate", clip(string(action))))
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body actionBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.certificateInput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := workflows.ActionRequest{Action: action, Actor: principalOf(ctx).Subject, ConfirmIrreversible: body.ConfirmIrreversible}
	// A refused action must not leave a workflow behind: when none runs,
	// judge the action against the stored state before starting one (the
	// workflow's validator judges it again).
	running, err := s.wf.CertificateRunning(ctx, in.Certificate.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !running {
		if err := judgeAction(in.Certificate.State, req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	st, err := s.wf.CertificateAction(ctx, in, updateID(r.URL.Path, key), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, CertificateView{WorkflowID: workflows.CertificateWorkflowID(in.Certificate.ID), Source: SourceWorkflow, Status: st})
}

// judgeAction applies the rules the certificate workflow's validator
// applies: the transition must exist (409 illegal_transition), and an
// irreversible one must be confirmed (SSL-9, 422).
func judgeAction(state statemachine.CertState, req workflows.ActionRequest) error {
	if _, err := statemachine.CertTransition(state, req.Action); err != nil {
		return err
	}
	if statemachine.IsIrreversible(req.Action) && !req.ConfirmIrreversible {
		return errs.R(errs.Invalid, []string{"SSL-9"}, "SSL-9: %s cannot be undone; confirm_irreversible must be true", req.Action)
	}
	return nil
}

// certificateInput builds the input that starts a certificate's workflow
// from the store's record of the certificate named by the path.
func (s *Server) certificateInput(r *http.Request) (workflows.CertificateInput, error) {
	orderID, cert, err := s.orders.GetCertificate(r.Context(), r.PathValue("id"))
	if err != nil {
		return workflows.CertificateInput{}, err
	}
	return workflows.CertificateInput{Certificate: cert, OrderID: orderID}, nil
}

// certificateStatus queries the certificate's workflow, falling back to the
// store when no workflow runs for it (a certificate nobody acted on yet, or
// one removed) or Temporal cannot answer.
func (s *Server) certificateStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	certID := r.PathValue("id")
	view := CertificateView{WorkflowID: workflows.CertificateWorkflowID(certID), Source: SourceWorkflow}
	st, wfErr := s.wf.CertificateStatus(ctx, certID)
	if wfErr == nil {
		view.Status = st
		writeJSON(w, http.StatusOK, view)
		return
	}
	orderID, cert, err := s.orders.GetCertificate(ctx, certID)
	switch {
	case err == nil:
		if errs.CodeOf(wfErr) != errs.NotFound {
			s.log.Warn("certificate status from the store: workflow did not answer", zap.String("certificate", certID), zap.Error(wfErr))
		}
		view.Source, view.Status = SourceStore, statusFromCertificate(orderID, cert)
		writeJSON(w, http.StatusOK, view)
	case errs.CodeOf(err) == errs.NotFound && errs.CodeOf(wfErr) != errs.NotFound:
		s.writeError(w, r, wfErr)
	default:
		s.writeError(w, r, err)
	}
}

func statusFromCertificate(orderID string, c domain.Certificate) workflows.CertificateStatus {
	return workflows.CertificateStatus{
		ID:            c.ID,
		OrderID:       orderID,
		State:         c.State,
		Transitions:   []workflows.Transition{},
		QuotaReturned: c.QuotaReturned,
	}
}
