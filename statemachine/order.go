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

// orderTable is the refund-order machine. Its order is the order of
// OrderEvents and of the diagram.
var orderTable = []edge[OrderState, OrderEvent]{
	{OrderRequest, []OrderState{OrderPaid}, OrderRefundRequested},
	{OrderRelease, []OrderState{OrderRefundRequested}, OrderReleasing},
	// The first irreversible step (revoke, reset); SSL-9 confirmation comes
	// before it.
	{OrderCommit, []OrderState{OrderRefundRequested, OrderReleasing}, OrderCommitted},
	// GW-4: a usage-based refund is paid only after an operator approves.
	{OrderAwaitApproval, []OrderState{OrderRefundRequested, OrderReleasing, OrderCommitted}, OrderAwaitingApproval},
	{OrderApprove, []OrderState{OrderAwaitingApproval}, OrderPaying},
	{OrderPay, []OrderState{OrderRefundRequested, OrderReleasing, OrderCommitted}, OrderPaying},
	{OrderPaidOut, []OrderState{OrderPaying}, OrderRefunded},
	{OrderRefuse, []OrderState{OrderRefundRequested, OrderReleasing, OrderCommitted, OrderAwaitingApproval}, OrderRejected},
	// CAN-1: only before the first irreversible step, so never from
	// committed or paying. awaiting_approval is also entered from
	// committed, and a state alone cannot tell which way it came: a caller
	// that went through committed must refuse the cancel itself.
	{OrderCancel, []OrderState{OrderRefundRequested, OrderReleasing, OrderAwaitingApproval}, OrderCancelled},
}

var orderMachine = newOrderMachine()

func newOrderMachine() *machine[OrderState, OrderEvent] {
	m := newMachine("order", orderStates, orderEvents, orderTable)
	m.refusal = orderRefusal
	return m
}

// orderRefusal gives CAN-1's reason when a cancel comes after an
// irreversible step.
func orderRefusal(from OrderState, ev OrderEvent) (string, []string) {
	if ev != OrderCancel {
		return "", nil
	}
	for _, e := range orderTable {
		if slices.Contains(orderIrreversible, e.event) && e.to == from {
			return "the refund is past its first irreversible step (CAN-1)", []string{"CAN-1"}
		}
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

// IsOrderIrreversible reports whether ev is an irreversible order step
// (commit, approve, pay): once taken, CAN-1 refuses a cancel.
func IsOrderIrreversible(ev OrderEvent) bool { return slices.Contains(orderIrreversible, ev) }
