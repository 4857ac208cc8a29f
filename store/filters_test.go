package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/ports"
)

func TestListOrdersFilters(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	wait := func(k domain.WaitKind) domain.Wait { return domain.Wait{Kind: k, Since: at, Rule: "R"} }
	records := []ports.RefundRecord{
		{OrderID: "o-customer", State: "releasing", Outcome: "pending", WaitingOn: []domain.Wait{wait(domain.WaitCustomer)}},
		{OrderID: "o-both", State: "releasing", Outcome: "pending", Escalated: true,
			WaitingOn: []domain.Wait{wait(domain.WaitCAReview), wait(domain.WaitCustomer)}},
		{OrderID: "o-review", State: "releasing", Outcome: "pending", Escalated: true, WaitingOn: []domain.Wait{wait(domain.WaitCAReview)}},
		{OrderID: "o-approval", State: "awaiting_approval", Outcome: "awaiting_approval", WaitingOn: []domain.Wait{wait(domain.WaitOperatorApproval)}},
		{OrderID: "o-paid", State: "refunded", Outcome: "refunded"},
	}
	ids := []string{"o-none"}
	for i, r := range records {
		o := sslOrder(t, r.OrderID)
		o.PaidAt = t0.Add(-time.Duration(i+1) * time.Hour) // newest first: records' order
		put(t, db, o)
		r.UpdatedAt = at
		if err := db.SaveRefund(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.OrderID)
	}
	put(t, db, sslOrder(t, "o-none"))
	yes, no := true, false
	tests := map[string]struct {
		f    ports.OrderFilter
		want []string
	}{
		"no filter":                       {f: ports.OrderFilter{}, want: ids},
		"waiting on the customer":         {f: ports.OrderFilter{WaitingOn: domain.WaitCustomer}, want: []string{"o-customer", "o-both"}},
		"waiting on a CA review":          {f: ports.OrderFilter{WaitingOn: domain.WaitCAReview}, want: []string{"o-both", "o-review"}},
		"waiting on the payment provider": {f: ports.OrderFilter{WaitingOn: domain.WaitPaymentProvider}, want: []string{}},
		"escalated":                       {f: ports.OrderFilter{Escalated: &yes}, want: []string{"o-both", "o-review"}},
		"not escalated (refunds only)":    {f: ports.OrderFilter{Escalated: &no}, want: []string{"o-customer", "o-approval", "o-paid"}},
		"outcome":                         {f: ports.OrderFilter{Outcome: "awaiting_approval"}, want: []string{"o-approval"}},
		"customer and escalated":          {f: ports.OrderFilter{WaitingOn: domain.WaitCustomer, Escalated: &yes}, want: []string{"o-both"}},
		"customer, not escalated":         {f: ports.OrderFilter{WaitingOn: domain.WaitCustomer, Escalated: &no}, want: []string{"o-customer"}},
		"outcome and refund state":        {f: ports.OrderFilter{Outcome: "pending", RefundState: "releasing", Escalated: &yes}, want: []string{"o-both", "o-review"}},
		"outcome and no refund":           {f: ports.OrderFilter{Outcome: "pending", RefundState: ports.NoRefund}, want: []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := []string{}
			f := tc.f
			f.Limit = 1 // paging is unchanged under filters
			for range 10 {
				page, err := db.ListOrders(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range page.Orders {
					got = append(got, s.Order.ID)
					if s.Refund != nil && (s.Refund.WaitingOn == nil || s.Refund.Audit == nil) {
						t.Fatalf("%s: nil lists in the summary's refund", s.Order.ID)
					}
				}
				if page.Next == "" {
					break
				}
				f.Cursor = page.Next
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ListOrders(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	for name, f := range map[string]ports.OrderFilter{
		"unknown waiting kind": {WaitingOn: "moon"},
		"unknown outcome":      {Outcome: "perhaps"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := db.ListOrders(ctx, f)
			errstest.Want(t, err, errs.Invalid, "want one of")
		})
	}
}
