package certificate

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/workflows/internal/calls"
)

// A Batch runs the CA actions of several held certificates' commands as
// one activity (CertificateActions), in the order their host gave them: a
// 3-year order's later-year cancels are one activity, not one each (three
// events and a workflow task fewer per certificate). The host makes one
// per group of commands (EnqueueBatched), each command at its index; each
// certificate's op hands its action to the batch (act) or, when it takes
// none (its state allows no such event any more), lets the batch know
// (drop). Once every index is in, the actions are sent, in index order,
// and each op gets its own answer. The activity stops at the first action
// that fails: the first's failure is the batch's (retried as a single
// action would be); a later one's, and the actions after it, come back
// skipped (Report.Skipped), not taken, for the host to command again,
// each then with its own retries.
type Batch struct {
	ins     []*CertificateActionInput
	arrived int
	done    bool
	out     []ActionResult
	err     error
}

// errSkipped is a batched action the activity did not take.
var errSkipped = errors.New("not taken: an action before it in the batch failed")

// NewBatch is a batch of n commands.
func NewBatch(n int) *Batch { return &Batch{ins: make([]*CertificateActionInput, n)} }

// act hands the action of the command at index i to the batch and waits
// for its answer.
func (b *Batch) act(ctx workflow.Context, i int, in CertificateActionInput) (ActionReceipt, error) {
	b.ins[i] = &in
	b.arrive(ctx)
	_ = workflow.Await(ctx, func() bool { return b.done })
	switch {
	case b.err != nil && i == b.first():
		return ActionReceipt{}, b.err
	case b.err != nil, i >= len(b.out) || b.out[i].Skipped:
		return ActionReceipt{}, errSkipped
	}
	return b.out[i].Receipt, nil
}

// drop tells the batch the command at index i takes no action.
func (b *Batch) drop(ctx workflow.Context) { b.arrive(ctx) }

func (b *Batch) arrive(ctx workflow.Context) {
	b.arrived++
	if b.arrived == len(b.ins) {
		workflow.Go(ctx, b.run)
	}
}

// first is the index of the first action taken.
func (b *Batch) first() int {
	for i, in := range b.ins {
		if in != nil {
			return i
		}
	}
	return -1
}

// run sends the actions handed in, in index order.
func (b *Batch) run(ctx workflow.Context) {
	defer func() { b.done = true }()
	var ins []CertificateActionInput
	var at []int
	for i, in := range b.ins {
		if in != nil {
			ins = append(ins, *in)
			at = append(at, i)
		}
	}
	if len(ins) == 0 {
		return
	}
	// Each action has the time a single one has.
	opts := calls.CA
	opts.StartToCloseTimeout *= time.Duration(len(ins))
	var got []ActionResult
	b.err = workflow.ExecuteActivity(calls.With(ctx, opts), a.CertificateActions, CertificateActionsInput{Actions: ins}).Get(ctx, &got)
	b.out = make([]ActionResult, len(b.ins))
	for i := range b.out {
		b.out[i].Skipped = true
	}
	for k, i := range at {
		if k < len(got) {
			b.out[i] = got[k]
		}
	}
}

// CertificateActionsInput is a batch of console actions, taken in order.
type CertificateActionsInput struct {
	Actions []CertificateActionInput `json:"actions"`
}

// ActionResult is one batched action's answer: its receipt, or Skipped
// when the activity did not take it.
type ActionResult struct {
	Receipt ActionReceipt `json:"receipt"`
	Skipped bool          `json:"skipped,omitempty"`
}
