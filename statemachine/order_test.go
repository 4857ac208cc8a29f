package statemachine

import (
	"fmt"
	"github.com/certflow/certflow/errs/errstest"
	"slices"
	"testing"

	"github.com/certflow/certflow/errs"
)

type orderPair struct {
	from OrderState
	ev   OrderEvent
}

// legalOrder is the order machine written out by hand.
var legalOrder = map[string]struct {
	from OrderState
	ev   OrderEvent
	to   OrderState
}{
	"GEN-1 paid request -> refund_requested":                    {OrderPaid, OrderRequest, OrderRefundRequested},
	"SSL-6 refund_requested release -> releasing":               {OrderRefundRequested, OrderRelease, OrderReleasing},
	"SSL-9 refund_requested commit -> committed":                {OrderRefundRequested, OrderCommit, OrderCommitted},
	"SSL-9 releasing commit -> committed":                       {OrderReleasing, OrderCommit, OrderCommitted},
	"GW-4 refund_requested await_approval -> awaiting_approval": {OrderRefundRequested, OrderAwaitApproval, OrderAwaitingApproval},
	"GW-4 releasing await_approval -> awaiting_approval":        {OrderReleasing, OrderAwaitApproval, OrderAwaitingApproval},
	"GW-4 awaiting_approval approve -> paying":                  {OrderAwaitingApproval, OrderApprove, OrderPaying},
	"M-4 refund_requested pay -> paying":                        {OrderRefundRequested, OrderPay, OrderPaying},
	"M-4 releasing pay -> paying":                               {OrderReleasing, OrderPay, OrderPaying},
	"M-4 committed pay -> paying":                               {OrderCommitted, OrderPay, OrderPaying},
	"M-4 paying paid_out -> refunded":                           {OrderPaying, OrderPaidOut, OrderRefunded},
	"GEN-1 paid refuse -> rejected":                             {OrderPaid, OrderRefuse, OrderRejected},
	"GEN-1 refund_requested refuse -> rejected":                 {OrderRefundRequested, OrderRefuse, OrderRejected},
	"SSL-2 releasing refuse -> rejected":                        {OrderReleasing, OrderRefuse, OrderRejected},
	"SSL-2 committed refuse -> rejected":                        {OrderCommitted, OrderRefuse, OrderRejected},
	"GW-4 awaiting_approval refuse -> rejected":                 {OrderAwaitingApproval, OrderRefuse, OrderRejected},
	"M-4 paying refuse -> rejected":                             {OrderPaying, OrderRefuse, OrderRejected},
	"CAN-1 refund_requested cancel -> cancelled":                {OrderRefundRequested, OrderCancel, OrderCancelled},
	"CAN-1 releasing cancel -> cancelled":                       {OrderReleasing, OrderCancel, OrderCancelled},
	"CAN-1 awaiting_approval cancel -> cancelled":               {OrderAwaitingApproval, OrderCancel, OrderCancelled},
}

func TestOrderTransitionLegal(t *testing.T) {
	for name, tc := range legalOrder {
		t.Run(name, func(t *testing.T) {
			got, err := OrderTransition(tc.from, tc.ev)
			if err != nil {
				t.Fatalf("OrderTransition(%s, %s): %v", tc.from, tc.ev, err)
			}
			if got != tc.to {
				t.Errorf("OrderTransition(%s, %s) = %s, want %s", tc.from, tc.ev, got, tc.to)
			}
		})
	}
}

// TestOrderTransitionIllegal tries every (state, event) pair not in
// legalOrder, generated from the state and event lists.
func TestOrderTransitionIllegal(t *testing.T) {
	legal := map[orderPair]bool{}
	for _, tc := range legalOrder {
		legal[orderPair{tc.from, tc.ev}] = true
	}
	n := 0
	for _, from := range OrderStates() {
		for _, ev := range AllOrderEvents() {
			if legal[orderPair{from, ev}] {
				continue
			}
			n++
			t.Run(fmt.Sprintf("%s %s cannot %s", orderRule(ev), from, ev), func(t *testing.T) {
				_, err := OrderTransition(from, ev)
				errstest.Want(t, err, errs.IllegalTransition, fmt.Sprintf("order in state %q cannot %q", from, ev))
			})
		}
	}
	if want := 9*9 - 20; n != want {
		t.Errorf("%d illegal pairs tried, want %d", n, want)
	}
}

// orderRule names the rule behind an order event, for test names.
func orderRule(ev OrderEvent) string {
	switch ev {
	case OrderCancel:
		return "CAN-1"
	case OrderAwaitApproval, OrderApprove:
		return "GW-4"
	case OrderPay, OrderPaidOut:
		return "M-4"
	case OrderCommit:
		return "SSL-9"
	case OrderRelease:
		return "SSL-6"
	default:
		return "GEN-1"
	}
}

// TestCAN1CancelRefusedAfterIrreversibleStep: once revoke/reset (commit) or
// payment began, a cancel is refused with CAN-1 as the reason.
func TestCAN1CancelRefusedAfterIrreversibleStep(t *testing.T) {
	tests := map[string]struct {
		from     OrderState
		msg      string
		withRule bool
	}{
		"CAN-1 committed":            {OrderCommitted, `order in state "committed" cannot "cancel": the refund is past its first irreversible step (CAN-1)`, true},
		"CAN-1 paying":               {OrderPaying, `order in state "paying" cannot "cancel": the refund is past its first irreversible step (CAN-1)`, true},
		"CAN-1 refunded":             {OrderRefunded, `order in state "refunded" cannot "cancel"`, false},
		"CAN-1 cancelled":            {OrderCancelled, `order in state "cancelled" cannot "cancel"`, false},
		"CAN-1 rejected":             {OrderRejected, `order in state "rejected" cannot "cancel"`, false},
		"CAN-1 not before a request": {OrderPaid, `order in state "paid" cannot "cancel"`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := OrderTransition(tc.from, OrderCancel)
			errstest.Want(t, err, errs.IllegalTransition)
			if got := errs.MessageOf(err); got != tc.msg {
				t.Errorf("message %q, want %q", got, tc.msg)
			}
			if got := slices.Contains(errs.RulesOf(err), "CAN-1"); got != tc.withRule {
				t.Errorf("rules %v: CAN-1 present=%v, want %v", errs.RulesOf(err), got, tc.withRule)
			}
		})
	}
}

func TestOrderTransitionUnknown(t *testing.T) {
	tests := map[string]struct {
		from OrderState
		ev   OrderEvent
		want string
	}{
		"CAN-1 unknown state": {"refunding", OrderCancel, `unknown order state "refunding"`},
		"CAN-1 unknown event": {OrderRefundRequested, "withdraw", `unknown order event "withdraw"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := OrderTransition(tc.from, tc.ev)
			errstest.Want(t, err, errs.Invalid, tc.want)
		})
	}
}

func TestOrderEvents(t *testing.T) {
	tests := map[string]struct {
		from OrderState
		want []OrderEvent
	}{
		"GEN-1 paid":                 {OrderPaid, []OrderEvent{OrderRequest, OrderRefuse}},
		"CAN-1 refund_requested":     {OrderRefundRequested, []OrderEvent{OrderRelease, OrderCommit, OrderAwaitApproval, OrderPay, OrderRefuse, OrderCancel}},
		"CAN-1 committed, no cancel": {OrderCommitted, []OrderEvent{OrderPay, OrderRefuse}},
		"CAN-1 paying, no cancel":    {OrderPaying, []OrderEvent{OrderPaidOut, OrderRefuse}},
		"GW-4 awaiting_approval":     {OrderAwaitingApproval, []OrderEvent{OrderApprove, OrderRefuse, OrderCancel}},
		"M-4 refunded is final":      {OrderRefunded, nil},
		"CAN-1 unknown state":        {"refunding", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := OrderEvents(tc.from); !slices.Equal(got, tc.want) {
				t.Errorf("OrderEvents(%s) = %v, want %v", tc.from, got, tc.want)
			}
		})
	}
}

func TestOrderFinalAndIrreversible(t *testing.T) {
	for _, s := range OrderStates() {
		want := s == OrderRefunded || s == OrderRejected || s == OrderCancelled
		if got := IsOrderFinal(s); got != want {
			t.Errorf("IsOrderFinal(%s) = %v, want %v", s, got, want)
		}
	}
	if IsOrderFinal("refunding") {
		t.Error("an unknown state is final")
	}
	for _, ev := range AllOrderEvents() {
		// CAN-1: revoke/reset (commit) and payment (approve, pay).
		want := ev == OrderCommit || ev == OrderApprove || ev == OrderPay
		if got := IsOrderIrreversible(ev); got != want {
			t.Errorf("IsOrderIrreversible(%s) = %v, want %v", ev, got, want)
		}
	}
}

// TestOrderPastIrreversible: CAN-1 is answered by the state alone. The
// states past the first irreversible step (commit, approve, pay) are those
// no refund reaches without one.
func TestOrderPastIrreversible(t *testing.T) {
	tests := map[string]struct {
		state OrderState
		want  bool
	}{
		"GEN-1 paid":                  {OrderPaid, false},
		"CAN-1 refund_requested":      {OrderRefundRequested, false},
		"SSL-6 releasing":             {OrderReleasing, false},
		"SSL-9 committed":             {OrderCommitted, true},
		"GW-4 awaiting_approval":      {OrderAwaitingApproval, false},
		"M-4 paying":                  {OrderPaying, true},
		"M-4 refunded":                {OrderRefunded, true},
		"GEN-1 rejected (either way)": {OrderRejected, false},
		"CAN-1 cancelled":             {OrderCancelled, false},
		"CAN-1 unknown state":         {"refunding", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := OrderPastIrreversible(tc.state); got != tc.want {
				t.Errorf("OrderPastIrreversible(%s) = %v, want %v", tc.state, got, tc.want)
			}
		})
	}
}

// TestOrderStatesDecideCAN1: no state that is not final is reached both
// with and without an irreversible step, so OrderPastIrreversible never
// needs the path that led to a state (a flag beside it). A row that broke
// this (say, await_approval from committed) needs a state of its own.
func TestOrderStatesDecideCAN1(t *testing.T) {
	var after []OrderState
	for _, e := range orderTable {
		if IsOrderIrreversible(e.event) {
			after = append(after, e.to)
		}
	}
	for _, s := range after {
		for _, r := range reachableWithout(orderStates, orderTable, s, nil) {
			if !IsOrderFinal(r) && !OrderPastIrreversible(r) {
				t.Errorf("CAN-1: %s follows an irreversible step (via %s) but is also reached without one", r, s)
			}
		}
	}
}

func TestOrderTableWellFormed(t *testing.T) {
	checkTable(t, orderMachine)
}
