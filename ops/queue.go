package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/workflows/refund"
)

// tab is one situation of the work queue: the filters that find its
// refunds and the wait that makes them urgent.
type tab struct {
	Key, Title, Rule string
	filters          []ports.OrderFilter
	// wait is the kind whose deadline and age sort the tab.
	wait     domain.WaitKind
	finished bool
}

// tabs are the queue's situations, in the order they are shown.
var tabs = []tab{
	{Key: "approval", Title: "Awaiting approval", Rule: "GW-4", wait: domain.WaitOperatorApproval,
		filters: []ports.OrderFilter{{Outcome: string(refund.OutcomeAwaitingApproval)}, {WaitingOn: domain.WaitOperatorApproval}}},
	{Key: "escalated", Title: "Escalated", Rule: "T-3", filters: []ports.OrderFilter{{Escalated: new(true)}}},
	{Key: "customer", Title: "Waiting for the customer", Rule: "SSL-6", wait: domain.WaitCustomer,
		filters: []ports.OrderFilter{{WaitingOn: domain.WaitCustomer}}},
	{Key: "ca", Title: "Waiting on the CA", Rule: "SSL-6", wait: domain.WaitCAReview,
		filters: []ports.OrderFilter{{WaitingOn: domain.WaitCAReview}}},
	{Key: "payment", Title: "Payment provider unreachable", wait: domain.WaitPaymentProvider,
		filters: []ports.OrderFilter{{WaitingOn: domain.WaitPaymentProvider}}},
	{Key: "finished", Title: "Recently finished", finished: true, filters: []ports.OrderFilter{
		{Outcome: string(refund.OutcomeRefunded)}, {Outcome: string(refund.OutcomeRejected)}, {Outcome: string(refund.OutcomeCancelled)}}},
}

func tabByKey(k string) (tab, bool) {
	for _, t := range tabs {
		if t.Key == k {
			return t, true
		}
	}
	return tab{}, false
}

// finalOutcome reports whether a refund with this outcome has ended.
func finalOutcome(o string) bool {
	switch refund.Outcome(o) {
	case refund.OutcomeRefunded, refund.OutcomeRejected, refund.OutcomeCancelled:
		return true
	}
	return false
}

// row is one refund in a tab, ready to show.
type row struct {
	OrderID, Product string
	Amount           string
	// AmountDue says Amount is what the judgement will pay (the record's
	// amount due), not yet paid.
	AmountDue          bool
	RequestedBy        string
	State, Outcome     string
	Since              time.Time
	Age                string
	Deadline           *time.Time
	Left               string
	Overdue            bool
	Rule, Certificate  string
	Detail             string
	Destination        string
	Reasons            []string
	Reason             string
	Finished           time.Time
	OrderURL, WebUIURL string
}

// collected is a tab's refunds, most urgent first.
type collected struct {
	Rows []row
	// Capped says MaxScan orders were read and more may exist.
	Capped bool
}

// Count is the tab's count as shown ("5000+" when capped).
func (c collected) Count() string {
	if c.Capped {
		return strconv.Itoa(len(c.Rows)) + "+"
	}
	return strconv.Itoa(len(c.Rows))
}

// collect reads a tab's refunds through its filters (one order found by
// two filters counts once) and sorts them by urgency: the nearest
// deadline first, refunds without one after, then the oldest first;
// finished refunds newest first.
func (h *Handler) collect(ctx context.Context, t tab, now time.Time) (collected, error) {
	var c collected
	seen := map[string]bool{}
	for _, f := range t.filters {
		f.Limit = ports.MaxPageSize
		for read := 0; ; {
			p, err := h.cfg.Reader.ListOrders(ctx, f)
			if err != nil {
				return collected{}, fmt.Errorf("listing %s orders: %w", t.Key, err)
			}
			for _, o := range p.Orders {
				if o.Refund == nil || seen[o.Order.ID] {
					continue
				}
				if r, ok := h.rowOf(t, o, now); ok {
					seen[o.Order.ID] = true
					c.Rows = append(c.Rows, r)
				}
			}
			read += len(p.Orders)
			if p.Next == "" || len(p.Orders) == 0 {
				break
			}
			if read >= h.cfg.MaxScan {
				c.Capped = true
				break
			}
			f.Cursor = p.Next
		}
	}
	if t.finished {
		slices.SortStableFunc(c.Rows, func(a, b row) int {
			if d := b.Finished.Compare(a.Finished); d != 0 {
				return d
			}
			return strings.Compare(a.OrderID, b.OrderID)
		})
		return c, nil
	}
	slices.SortStableFunc(c.Rows, byUrgency)
	return c, nil
}

// byUrgency: deadline first (none last), then age (oldest first).
func byUrgency(a, b row) int {
	switch {
	case a.Deadline != nil && b.Deadline == nil:
		return -1
	case a.Deadline == nil && b.Deadline != nil:
		return 1
	case a.Deadline != nil && !a.Deadline.Equal(*b.Deadline):
		return a.Deadline.Compare(*b.Deadline)
	}
	if d := a.Since.Compare(b.Since); d != 0 {
		return d
	}
	return strings.Compare(a.OrderID, b.OrderID)
}

// rowOf makes the row of o in tab t; false when it does not belong there
// (an escalated refund that has ended, a refund finished too long ago).
func (h *Handler) rowOf(t tab, o ports.OrderSummary, now time.Time) (row, bool) {
	rec := o.Refund
	r := row{
		OrderID: o.Order.ID, Product: string(o.Order.Product), RequestedBy: rec.RequestedBy,
		State: rec.State, Outcome: rec.Outcome, Since: rec.UpdatedAt,
		OrderURL: "/ops/orders/" + url.PathEscape(o.Order.ID), WebUIURL: h.webUIURL(o.Order.ID),
	}
	r.Amount = amount(rec.Cash, rec.Currency)
	if r.Amount == "" {
		r.Amount, r.AmountDue = dueAmount(rec.Due, rec.Outcome)
	}
	switch {
	case t.finished:
		if !finalOutcome(rec.Outcome) || now.Sub(rec.UpdatedAt) > h.cfg.FinishedWindow {
			return row{}, false
		}
		r.Finished = rec.UpdatedAt
		r.Destination = string(rec.Destination)
		r.Reasons = rec.Reasons
		r.Reason = cancelReason(*rec)
	case t.Key == "escalated":
		if finalOutcome(rec.Outcome) {
			return row{}, false
		}
		r.Rule, r.Detail = "T-3", "escalated"
		if e := rec.Escalation; e != nil {
			d := e.Deadline
			r.Since, r.Deadline, r.Rule, r.Certificate = e.At, &d, e.Rule, e.Certificate
			r.Detail = fmt.Sprintf("%s (its deadline %s passed)", e.Reason, e.Deadline.UTC().Format("2006-01-02 15:04 UTC"))
		}
		// Once escalated, what still comes is the waits' own deadline
		// (a CA review's is then the window end): that is the urgency.
		if w, ok := nearestDeadline(rec.WaitingOn); ok {
			r.Deadline = w.Deadline
		}
	default:
		if finalOutcome(rec.Outcome) {
			return row{}, false
		}
		if w, ok := firstWait(rec.WaitingOn, t.wait); ok {
			r.Since, r.Deadline, r.Rule, r.Detail, r.Certificate = w.Since, w.Deadline, w.Rule, w.Detail, w.Certificate
		}
		if r.Rule == "" {
			r.Rule = t.Rule
		}
	}
	r.Age = human(now.Sub(r.Since))
	if r.Deadline != nil {
		left := r.Deadline.Sub(now)
		r.Overdue = left < 0
		if r.Overdue {
			r.Left = "overdue by " + human(-left)
		} else {
			r.Left = human(left)
		}
	}
	return r, true
}

// firstWait is the wait of kind k with the nearest deadline.
func firstWait(ws []domain.Wait, k domain.WaitKind) (domain.Wait, bool) {
	var best domain.Wait
	found := false
	for _, w := range ws {
		if w.Kind != k {
			continue
		}
		if !found || (w.Deadline != nil && (best.Deadline == nil || w.Deadline.Before(*best.Deadline))) {
			best, found = w, true
		}
	}
	return best, found
}

// nearestDeadline is the wait, of any kind, with the nearest deadline.
func nearestDeadline(ws []domain.Wait) (domain.Wait, bool) {
	var best domain.Wait
	found := false
	for _, w := range ws {
		if w.Deadline != nil && (!found || w.Deadline.Before(*best.Deadline)) {
			best, found = w, true
		}
	}
	return best, found
}

// cancelReason is the reason the refund was cancelled: the cancel's note
// in the audit trail, else the record's message.
func cancelReason(rec ports.RefundRecord) string {
	if rec.Outcome != string(refund.OutcomeCancelled) {
		return rec.Message
	}
	for i := len(rec.Audit) - 1; i >= 0; i-- {
		if a := rec.Audit[i]; a.Action == domain.AuditRefundCancelled && a.Note != "" {
			return a.Note
		}
	}
	return rec.Message
}

// dueAmount is the cash of a refund's amount due while it is not paid and
// has not ended (true), or "" (false).
func dueAmount(d *ports.RefundDue, outcome string) (string, bool) {
	if d == nil || finalOutcome(outcome) {
		return "", false
	}
	a := amount(d.Cash, d.Currency)
	return a, a != ""
}

func amount(v, currency string) string {
	if v == "" {
		return ""
	}
	return strings.TrimSpace(v + " " + currency)
}

// human writes a duration in its two largest units ("3d 4h", "2h 5m").
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	hours, d := d/time.Hour, d%time.Hour
	mins, secs := d/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return fmt.Sprintf("%ds", secs)
}

// webUIURL is the refund workflow's page in the Temporal Web UI.
func (h *Handler) webUIURL(orderID string) string {
	if h.cfg.WebUI == "" {
		return ""
	}
	return h.cfg.WebUI + "/namespaces/" + url.PathEscape(h.cfg.Namespace) + "/workflows/" + url.PathEscape(refund.WorkflowID(orderID))
}

type tabLink struct {
	Key, Title, Rule, Count string
	Current                 bool
}

type queueData struct {
	Session     session
	Tabs        []tabLink
	Tab         tab
	Rows        []row
	Total       string
	From, To    int
	Prev, Next  string
	CountsEvery int
	Now         time.Time
}

// tabCounts collects every tab; the queue shows all counts at once.
func (h *Handler) tabCounts(ctx context.Context, now time.Time) (map[string]collected, error) {
	out := make(map[string]collected, len(tabs))
	for _, t := range tabs {
		c, err := h.collect(ctx, t, now)
		if err != nil {
			return nil, err
		}
		out[t.Key] = c
	}
	return out, nil
}

func (h *Handler) queue(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Now()
	key := r.URL.Query().Get("tab")
	if key == "" {
		key = tabs[0].Key
	}
	t, ok := tabByKey(key)
	if !ok {
		h.refuse(w, r, http.StatusNotFound, fmt.Sprintf("There is no tab %q.", key))
		return
	}
	all, err := h.tabCounts(r.Context(), now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := queueData{Session: sessionOf(r.Context()), Tab: t, Now: now, CountsEvery: int(h.cfg.CountsEvery / time.Millisecond)}
	for _, x := range tabs {
		d.Tabs = append(d.Tabs, tabLink{Key: x.Key, Title: x.Title, Rule: x.Rule, Count: all[x.Key].Count(), Current: x.Key == t.Key})
	}
	c := all[t.Key]
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	from := min((page-1)*h.cfg.PageSize, len(c.Rows))
	to := min(from+h.cfg.PageSize, len(c.Rows))
	d.Rows, d.Total, d.From, d.To = c.Rows[from:to], c.Count(), from+1, to
	if page > 1 {
		d.Prev = fmt.Sprintf("/ops/?tab=%s&page=%d", t.Key, page-1)
	}
	if to < len(c.Rows) {
		d.Next = fmt.Sprintf("/ops/?tab=%s&page=%d", t.Key, page+1)
	}
	h.render(w, r, http.StatusOK, "queue", d)
}

// counts answers the tabs' counts as JSON for the queue's script. It does
// not renew the session: a tab left open does not keep a session alive.
func (h *Handler) counts(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if _, ok := h.lookup(r, false); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"session ended"}`))
		return
	}
	all, err := h.tabCounts(r.Context(), h.cfg.Now())
	if err != nil {
		h.logFailure(r, err)
		w.WriteHeader(statusFor(err))
		_, _ = w.Write([]byte(`{"error":"counts unavailable"}`))
		return
	}
	out := make(map[string]string, len(all))
	for k, c := range all {
		out[k] = c.Count()
	}
	_ = json.NewEncoder(w).Encode(out)
}
