package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/statemachine"
)

// demo drives the seeded orders through the gateway's HTTP API, the way
// the console would, and pokes the CA simulator's admin endpoints.
type demo struct {
	gw, ca string // base URLs: the first gateway, the CA simulator
	// gws are all the gateways; requests spread over them by order.
	gws    []string
	token  string // the CA simulator's
	api    map[string]string
	hc     *http.Client
	tc     client.Client
	orders []demoOrder

	mu  sync.Mutex // serialises output and guards refused
	out io.Writer
	// refused holds the rules of the requests refused at request time
	// (422: nothing was started), by order.
	refused map[string][]string
}

func (r *runner) newDemo() *demo {
	var gws []string
	for _, a := range r.o.gatewayAddrs() {
		gws = append(gws, localURL(a))
	}
	return &demo{
		gw: gws[0], gws: gws, ca: localURL(r.o.casimAddr), token: r.token, api: r.api,
		hc: &http.Client{Timeout: 30 * time.Second}, tc: r.tc, orders: r.orders, out: r.out,
		refused: map[string][]string{},
	}
}

// gatewayFor is the gateway the requests of the i-th order go to: the
// gateways in turn, as a load balancer would spread them.
func (d *demo) gatewayFor(i int) string { return d.gws[i%len(d.gws)] }

// as is the Authorization header of a demo token (console, operator,
// operator2).
func (d *demo) as(role string) []string { return []string{"Authorization", "Bearer " + d.api[role]} }

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// run plays the demo's script: console revocations already at the CA, the
// refund requests (then requested is closed), a console revocation, the
// operator's approval, a duplicate CA callback.
func (d *demo) run(ctx context.Context, approveAfter time.Duration, requested chan<- struct{}) {
	d.request(ctx)
	close(requested)
	if ctx.Err() != nil {
		return
	}
	var wg sync.WaitGroup
	for _, o := range d.orders {
		if o.Approve {
			wg.Go(func() { d.approve(ctx, o.Order.ID, approveAfter) })
		}
		if o.ConsoleRevoke != "" && d.revoke(ctx, o.ConsoleRevoke) {
			wg.Go(func() { d.duplicateCallback(ctx, o.ConsoleRevoke) })
		}
	}
	wg.Wait()
}

// request opens the console revocations at the CA and asks for the
// refunds, stopping early when ctx ends.
func (d *demo) request(ctx context.Context) {
	for _, o := range d.orders {
		if o.ReviewOpen != "" && ctx.Err() == nil {
			d.openRevocation(ctx, o.ReviewOpen)
		}
	}
	for i, o := range d.orders {
		if !o.NoRefund && ctx.Err() == nil {
			d.requestRefund(ctx, d.gatewayFor(i), o)
		}
	}
}

// revoke revokes a certificate from the console, confirming that it cannot
// be undone (SSL-9).
func (d *demo) revoke(ctx context.Context, certID string) bool {
	var v gateway.CertificateView
	u := d.gw + "/v1/certificates/" + url.PathEscape(certID) + "/actions/revoke"
	body := map[string]any{"confirm_irreversible": true}
	if _, err := d.call(ctx, http.MethodPost, u, body, &v, append([]string{"Idempotency-Key", "demo-revoke-" + certID}, d.as("console")...)...); err != nil {
		d.printf("→ POST /v1/certificates/%s/actions/revoke: %v\n", certID, err)
		return false
	}
	d.printf("→ POST /v1/certificates/%s/actions/revoke: 200 %s (console revocation, no refund)\n", certID, v.Status.State)
	return true
}

// apiError is the error shape of the gateway (an RFC 9457 problem with
// the extensions code and rules) and of casim ({"error":{...}}).
type apiError struct {
	Code   string   `json:"code"`
	Detail string   `json:"detail"`
	Rules  []string `json:"rules"`
	Error  struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Rules   []string `json:"rules"`
	} `json:"error"`
}

// parts returns the code, message and rules of either shape.
func (e *apiError) parts() (code, message string, rules []string) {
	if e.Code != "" {
		return e.Code, e.Detail, e.Rules
	}
	return e.Error.Code, e.Error.Message, e.Error.Rules
}

// apiErr is a gateway or casim error answer.
type apiErr struct {
	status int
	rules  []string
	text   string
}

func (e *apiErr) Error() string { return e.text }

// call sends a JSON request and decodes a 2xx answer into out. A non-2xx
// answer is returned as an error with the API's code and message.
func (d *demo) call(ctx context.Context, method, u string, body, out any, header ...string) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(data, &e) == nil {
			if code, message, rules := e.parts(); code != "" {
				cited := ""
				if len(rules) > 0 {
					cited = " [" + strings.Join(rules, ", ") + "]"
				}
				return resp.StatusCode, &apiErr{status: resp.StatusCode, rules: rules,
					text: fmt.Sprintf("%d %s: %s%s", resp.StatusCode, code, message, cited)}
			}
		}
		return resp.StatusCode, fmt.Errorf("%s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decoding %s %s: %w", method, u, err)
		}
	}
	return resp.StatusCode, nil
}

func (d *demo) caAuth() []string { return []string{"Authorization", "Bearer " + d.token} }

// openRevocation submits a console revocation at the CA, as the console did
// before the refund was asked for.
func (d *demo) openRevocation(ctx context.Context, certID string) {
	u := d.ca + "/v1/certificates/" + url.PathEscape(certID) + "/revocations"
	if _, err := d.call(ctx, http.MethodPost, u, map[string]string{"reason": "key compromise (console)"}, nil, d.caAuth()...); err != nil {
		if ctx.Err() != nil {
			return
		}
		d.printf("  ! console revocation of %s at the CA: %v\n", certID, err)
		return
	}
	d.printf("→ CA: revocation of %s already in review (submitted from the console)\n", certID)
}

// requestRefund posts the refund request, with the confirmations the
// console collected, exactly as the console would.
func (d *demo) requestRefund(ctx context.Context, gw string, o demoOrder) {
	u := gw + "/v1/orders/" + url.PathEscape(o.Order.ID) + "/refund"
	var acc gateway.RefundAccepted
	status, err := d.call(ctx, http.MethodPost, u, o.Request, &acc, append([]string{"Idempotency-Key", "demo-" + o.Order.ID}, d.as("console")...)...)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		var ae *apiErr
		if errors.As(err, &ae) && ae.status == http.StatusUnprocessableEntity {
			d.mu.Lock()
			d.refused[o.Order.ID] = ae.rules
			d.mu.Unlock()
			d.printf("→ POST /v1/orders/%s/refund: refused before it started, %v — %s\n", o.Order.ID, err, o.Story)
			return
		}
		d.printf("→ POST /v1/orders/%s/refund: %v\n", o.Order.ID, err)
		return
	}
	state := "started"
	if acc.Status != nil {
		state = string(acc.Status.State)
	}
	via := ""
	if len(d.gws) > 1 {
		via = " via " + gw
	}
	d.printf("→ POST /v1/orders/%s/refund%s: %d %s — %s\n", o.Order.ID, via, status, state, o.Story)
}

// refundStatus reads the refund through the gateway.
func (d *demo) refundStatus(ctx context.Context, orderID string) (gateway.RefundView, error) {
	var v gateway.RefundView
	_, err := d.call(ctx, http.MethodGet, d.gw+"/v1/orders/"+url.PathEscape(orderID)+"/refund", nil, &v, d.as("console")...)
	return v, err
}

// approve waits for the refund to await approval, gives the operator a
// moment, and approves it (GW-4).
func (d *demo) approve(ctx context.Context, orderID string, after time.Duration) {
	if !d.waitFor(ctx, 2*time.Minute, func() bool {
		v, err := d.refundStatus(ctx, orderID)
		return err == nil && v.Status.State == statemachine.OrderAwaitingApproval
	}) {
		if ctx.Err() == nil {
			d.printf("  ! %s never reached awaiting_approval; not approving\n", orderID)
		}
		return
	}
	d.printf("→ %s awaits an operator (GW-4); approving in %s\n", orderID, after)
	if !sleep(ctx, after) {
		return
	}
	var v gateway.RefundView
	u := d.gw + "/v1/orders/" + url.PathEscape(orderID) + "/refund/approve"
	body := map[string]string{"note": "GRCQ usage checked"}
	if _, err := d.call(ctx, http.MethodPost, u, body, &v, append([]string{"Idempotency-Key", "demo-approve-" + orderID}, d.as("operator")...)...); err != nil {
		d.printf("→ POST /v1/orders/%s/refund/approve (demo-operator): %v\n", orderID, err)
		return
	}
	d.printf("→ POST /v1/orders/%s/refund/approve (demo-operator; requested by demo-console): 200 %s\n", orderID, v.Status.State)
}

// revocationView is casim's answer on a revocation review.
type revocationView struct {
	Status  string `json:"status"`
	EventID string `json:"event_id"`
}

// duplicateCallback waits until the CA decided certID's revocation review
// and its callback was applied, asks the CA simulator to send the same
// callback again, and shows that the certificate applied it once.
func (d *demo) duplicateCallback(ctx context.Context, certID string) {
	var rev revocationView
	if !d.waitFor(ctx, 2*time.Minute, func() bool {
		_, err := d.call(ctx, http.MethodGet, d.ca+"/v1/certificates/"+url.PathEscape(certID)+"/revocation", nil, &rev, d.caAuth()...)
		return err == nil && rev.EventID != ""
	}) {
		if ctx.Err() == nil {
			d.printf("  ! the CA never decided the revocation of %s; no duplicate sent\n", certID)
		}
		return
	}
	if !d.waitFor(ctx, time.Minute, func() bool { return d.applied(ctx, certID, rev.EventID) == 1 }) {
		if ctx.Err() == nil {
			d.printf("  ! callback %s was not applied to %s; no duplicate sent\n", rev.EventID, certID)
		}
		return
	}
	var res struct {
		StatusCode int  `json:"status_code"`
		Delivered  bool `json:"delivered"`
	}
	u := d.ca + "/admin/callbacks/" + url.PathEscape(rev.EventID) + "/resend"
	if _, err := d.call(ctx, http.MethodPost, u, nil, &res, d.caAuth()...); err != nil {
		d.printf("→ CA resend of callback %s: %v\n", rev.EventID, err)
		return
	}
	sleep(ctx, 2*time.Second)
	if ctx.Err() != nil {
		return // stopping: no verdict on an interrupted check
	}
	if n := d.applied(ctx, certID, rev.EventID); n != 1 {
		d.printf("  ! CA callback %s sent twice (gateway answered %d): certificate %s shows it applied %d times, want once\n",
			rev.EventID, res.StatusCode, certID, n)
		return
	}
	d.printf("→ CA sent callback %s (revocation %s of %s) a second time: gateway answered %d, certificate applied it once — deduplicated by event ID\n",
		rev.EventID, rev.Status, certID, res.StatusCode)
}

// applied counts the certificate's transitions caused by CA event eventID.
func (d *demo) applied(ctx context.Context, certID, eventID string) int {
	var v gateway.CertificateView
	if _, err := d.call(ctx, http.MethodGet, d.gw+"/v1/certificates/"+url.PathEscape(certID), nil, &v, d.as("console")...); err != nil {
		return -1
	}
	n := 0
	for _, t := range v.Status.Transitions {
		if t.EventID == eventID {
			n++
		}
	}
	return n
}

// waitFor polls cond every second until it holds, limit passes or ctx
// ends.
func (d *demo) waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	end := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) || !sleep(ctx, time.Second) {
			return false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// progress prints the refunds' table whenever it changes, from the moment
// start is closed.
func (d *demo) progress(ctx context.Context, every time.Duration, start <-chan struct{}) {
	select {
	case <-ctx.Done():
		return
	case <-start:
	}
	last, wait := "", every
	for {
		table := d.table(ctx)
		if ctx.Err() != nil {
			return
		}
		if table != last {
			d.printf("\n── refunds at %s (GET /v1/orders/{id}/refund; %s) ──\n%s", time.Now().Format("15:04:05"), d.visibility(ctx), table)
			last, wait = table, every
		} else {
			// Settled: ask less often (up to every 30 s) until something
			// changes again.
			wait = min(2*wait, max(every, 30*time.Second))
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// table renders one row per order.
func (d *demo) table(ctx context.Context) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tPROFILE\tPRODUCT\tREFUND\tOUTCOME\tDETAIL")
	for _, o := range d.orders {
		state, outcome, detail := "-", "-", "not requested"
		d.mu.Lock()
		refused, wasRefused := d.refused[o.Order.ID]
		d.mu.Unlock()
		// Only orders with a refund are asked about it: the others would
		// be a 404 every round.
		switch {
		case wasRefused:
			detail = "refused at request time (422, nothing started): " + strings.Join(refused, ", ")
		case o.NoRefund:
			detail = "no refund asked; " + d.certificates(ctx, o)
		default:
			v, err := d.refundStatus(ctx, o.Order.ID)
			if err == nil {
				state, outcome, detail = string(v.Status.State), string(v.Status.Outcome), describe(v.Status)
			} else if !strings.HasPrefix(err.Error(), "404") {
				detail = err.Error()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Order.ID, o.Order.Profile, o.Order.Product, state, outcome, clip(detail, 90))
	}
	tw.Flush()
	return b.String()
}

// certificates lists the order's certificates' states, as the gateway
// reports them.
func (d *demo) certificates(ctx context.Context, o demoOrder) string {
	var parts []string
	for _, c := range o.Order.Certificates {
		var v gateway.CertificateView
		state := "?"
		if _, err := d.call(ctx, http.MethodGet, d.gw+"/v1/certificates/"+url.PathEscape(c.ID), nil, &v, d.as("console")...); err == nil {
			state = string(v.Status.State)
		}
		parts = append(parts, "certificate "+c.ID+" "+state)
	}
	return strings.Join(parts, ", ")
}

// describe sums a refund's status up in one line.
func describe(st api.RefundStatus) string {
	switch {
	case st.Payout != nil:
		s := fmt.Sprintf("paid %s %s to %s", st.Payout.Cash, st.Payout.Currency, st.Payout.Destination)
		if st.Payout.GiftCard != "" && st.Payout.GiftCard != "0" && st.Payout.GiftCard != "0.00" {
			s += fmt.Sprintf(" + gift card %s", st.Payout.GiftCard)
		}
		if st.Payout.BenefitPoints > 0 {
			s += fmt.Sprintf(" + %d points", st.Payout.BenefitPoints)
		}
		return s
	case len(st.Reasons) > 0:
		return "refused by " + strings.Join(st.Reasons, ", ") + ": " + st.Message
	case len(st.WaitingOn) > 0:
		// What it waits on, structured (kind, certificate, rule, due),
		// then the same in words.
		var parts []string
		for _, w := range st.WaitingOn {
			p := string(w.Kind)
			if w.Certificate != "" {
				p += " of " + w.Certificate
			}
			p += " (" + w.Rule
			if w.Deadline != nil {
				p += ", due " + w.Deadline.Format(time.RFC3339)
			}
			parts = append(parts, p+")")
		}
		s := "waiting on " + strings.Join(parts, ", ")
		if st.Waiting != "" {
			s += ": " + st.Waiting
		}
		return s
	case st.Waiting != "":
		return "waiting: " + st.Waiting
	case st.Message != "":
		return st.Message
	case len(st.Steps) > 0:
		last := st.Steps[len(st.Steps)-1]
		return strings.TrimSpace(last.Step + " " + last.Detail)
	}
	return ""
}

// visibility counts the refunds by search attribute, as the Web UI lists
// them.
func (d *demo) visibility(ctx context.Context) string {
	all, err1 := d.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: `WorkflowType = "RefundWorkflow"`})
	done, err2 := d.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: `RefundStatus = "refunded"`})
	if err1 != nil || err2 != nil {
		return "visibility unavailable"
	}
	return fmt.Sprintf(`Temporal visibility: %d refund workflows, %d with RefundStatus="refunded"`, all.GetCount(), done.GetCount())
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
