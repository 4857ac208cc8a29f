package statemachine

import "slices"

// orderStates lists every order state, in the order diagrams and generated
// tests use.
var orderStates = []OrderState{
	OrderPaid,
	OrderRefundRequested,
	OrderReleasing,
	OrderCommitted,
	OrderAwaitingApproval,
	OrderPaying,
	OrderRefunded,
	OrderRejected,
	OrderCancelled,
}

// orderEvents lists every order event, in table order.
var orderEvents = []OrderEvent{
	OrderRequest,
	OrderRelease,
	OrderCommit,
	OrderAwaitApproval,
	OrderApprove,
	OrderPay,
	OrderPaidOut,
	OrderRefuse,
	OrderCancel,
}

// orderIrreversible lists the order events after which CAN-1 refuses a
// cancel: commit (the first revoke or reset) and the two that start the
// payment.
var orderIrreversible = []OrderEvent{OrderCommit, OrderApprove, OrderPay}

// orderInitial is the state a refund starts in: the order is paid and its
// refund request not yet judged.
const orderInitial = OrderPaid

// orderTable is the refund-order machine. Its order is the order of
// OrderEvents and of the diagram. Every state a refund reaches is reached
// by one of these rows: the refund workflow sets no state by itself.
var orderTable = []edge[OrderState, OrderEvent]{
	{OrderRequest, []OrderState{OrderPaid}, OrderRefundRequested},
	{OrderRelease, []OrderState{OrderRefundRequested}, OrderReleasing},
	// The first irreversible step (revoke, reset); SSL-9 confirmation comes
	// before it.
	{OrderCommit, []OrderState{OrderRefundRequested, OrderReleasing}, OrderCommitted},
	// GW-4: a usage-based refund is paid only after an operator approves.
	// The approval comes before any irreversible step (GW-4 and GW-3's
	// reset never apply to the same order, and SSL releases ask for no
	// approval), so awaiting_approval is entered only while a cancel is
	// still allowed: every state is on one side of CAN-1
	// (OrderPastIrreversible). An approval after a commit would need a
	// state of its own, not a flag beside this one.
	{OrderAwaitApproval, []OrderState{OrderRefundRequested, OrderReleasing}, OrderAwaitingApproval},
	{OrderApprove, []OrderState{OrderAwaitingApproval}, OrderPaying},
	{OrderPay, []OrderState{OrderRefundRequested, OrderReleasing, OrderCommitted}, OrderPaying},
	{OrderPaidOut, []OrderState{OrderPaying}, OrderRefunded},
	// The rules refuse from every state that is not final: at request time
	// (paid: the request judged ineligible, or the order or its policy
	// could not be read), while releasing (SSL-6: a certificate could not
	// be released), after a review (SSL-2, VAS-2..VAS-4), and while paying
	// (M-3, M-4: the payment refused).
	{OrderRefuse, []OrderState{OrderPaid, OrderRefundRequested, OrderReleasing, OrderCommitted, OrderAwaitingApproval, OrderPaying}, OrderRejected},
	// CAN-1: only before the first irreversible step, so never from
	// committed or paying.
	{OrderCancel, []OrderState{OrderRefundRequested, OrderReleasing, OrderAwaitingApproval}, OrderCancelled},
}

var orderMachine = newOrderMachine()

// orderReversible lists the states a refund reaches without an
// irreversible step (from orderInitial by the other rows), in state order.
var orderReversible = reachableWithout(orderStates, orderTable, orderInitial, orderIrreversible)

func newOrderMachine() *machine[OrderState, OrderEvent] {
	m := newMachine("order", orderStates, orderEvents, orderTable)
	m.refusal = orderRefusal
	return m
}

// reachableWithout lists the states reachable from start by rows of table
// whose event is not in skip, in the order of states.
func reachableWithout[S, E ~string](states []S, table []edge[S, E], start S, skip []E) []S {
	seen := []S{start}
	for grew := true; grew; {
		grew = false
		for _, e := range table {
			if slices.Contains(skip, e.event) || slices.Contains(seen, e.to) {
				continue
			}
			if slices.ContainsFunc(e.from, func(s S) bool { return slices.Contains(seen, s) }) {
				seen, grew = append(seen, e.to), true
			}
		}
	}
	var out []S
	for _, s := range states {
		if slices.Contains(seen, s) {
			out = append(out, s)
		}
	}
	return out
}

// orderRefusal gives CAN-1's reason when a cancel comes after an
// irreversible step.
func orderRefusal(from OrderState, ev OrderEvent) (string, []string) {
	if ev == OrderCancel && slices.Contains(orderStates, from) && !slices.Contains(orderReversible, from) && !finalIn(orderTable, from) {
		return "the refund is past its first irreversible step (CAN-1)", []string{"CAN-1"}
	}
	return "", nil
}

// OrderTransition returns the order state ev leads to from from. An event
// the table does not allow in from is an errs.IllegalTransition error whose
// message names both (and, for a cancel after an irreversible step, carries
// rule CAN-1); an unknown state or event is errs.Invalid.
func OrderTransition(from OrderState, ev OrderEvent) (OrderState, error) {
	return orderMachine.transition(from, ev)
}

// OrderEvents lists the events legal in from, in table order; nil for a
// final state and for an unknown one.
func OrderEvents(from OrderState) []OrderEvent {
	return orderMachine.legalEvents(from)
}

// OrderStates lists every order state, in a fixed order.
func OrderStates() []OrderState { return slices.Clone(orderStates) }

// AllOrderEvents lists every order event, in table order.
func AllOrderEvents() []OrderEvent { return slices.Clone(orderEvents) }

// ValidOrderState reports whether s is an order state.
func ValidOrderState(s OrderState) bool { return orderMachine.knownState(s) }

// IsOrderFinal reports whether no event leaves s: refunded, rejected,
// cancelled.
func IsOrderFinal(s OrderState) bool { return orderMachine.knownState(s) && orderMachine.final(s) }

// OrderPastIrreversible reports whether s is past the refund's first
// irreversible step: no refund reaches it without a commit, an approval or
// a payment (committed, paying, refunded). It is a property of the table,
// so the state alone answers CAN-1: a refund needs no flag beside it. For
// an unknown state it is false.
func OrderPastIrreversible(s OrderState) bool {
	return orderMachine.knownState(s) && !slices.Contains(orderReversible, s)
}

// IsOrderIrreversible reports whether ev is an irreversible order step
// (commit, approve, pay): once taken, CAN-1 refuses a cancel.
func IsOrderIrreversible(ev OrderEvent) bool { return slices.Contains(orderIrreversible, ev) }
