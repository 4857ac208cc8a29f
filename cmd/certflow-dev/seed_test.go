package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

// TestDemoOrdersAreValidAndJudgedAsAdvertised holds the seed data to what
// the demo claims: every order is accepted by the store, the rules judge
// every request without an input error, and the verdict (eligible, or the
// refusing rules) is the one the demo's story tells.
func TestDemoOrdersAreValidAndJudgedAsAdvertised(t *testing.T) {
	now := time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range demoOrders(now) {
		t.Run(d.Order.ID, func(t *testing.T) {
			if err := db.PutOrder(ctx, d.Order); err != nil {
				t.Fatalf("PutOrder: %v", err)
			}
			prof, err := reg.Resolve(d.Order.Profile, d.Order.PaidAt)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := calendar.Builtin(prof.Calendar)
			if err != nil {
				t.Fatal(err)
			}
			cal, err := calendar.FromSpec(spec)
			if err != nil {
				t.Fatal(err)
			}
			req := domain.RefundRequest{OrderID: d.Order.ID, RequestedAt: now, Consent: d.Request.Consent,
				ConfirmIrreversible: d.Request.ConfirmIrreversible, AcceptLateReviewRisk: d.Request.AcceptLateReviewRisk}
			dec, err := policy.Evaluate(prof, cal, d.Order, req, now)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if dec.Eligible != d.Eligible || !slices.Equal(dec.Reasons(), orEmpty(d.Refused)) {
				t.Errorf("eligible %v refused %v, want eligible %v refused %v (refusals %+v)",
					dec.Eligible, dec.Reasons(), d.Eligible, d.Refused, dec.Refusals)
			}
			if len(dec.MissingConfirmations) > 0 {
				t.Errorf("request lacks confirmations: %+v", dec.MissingConfirmations)
			}
			if d.Approve != dec.RequiresApproval {
				t.Errorf("approve %v, but the rules require approval: %v", d.Approve, dec.RequiresApproval)
			}
		})
	}
}

// TestDemoCoversEveryStateProductAndProfile checks the demo's promise of
// coverage.
func TestDemoCoversEveryStateProductAndProfile(t *testing.T) {
	orders := demoOrders(time.Now())
	states, products, profiles := map[statemachine.CertState]bool{}, map[domain.Product]bool{}, map[string]bool{}
	ids := map[string]bool{}
	for _, d := range orders {
		products[d.Order.Product], profiles[d.Order.Profile] = true, true
		if ids[d.Order.ID] {
			t.Errorf("order %s twice", d.Order.ID)
		}
		ids[d.Order.ID] = true
		for _, c := range d.Order.Certificates {
			states[c.State] = true
		}
	}
	for _, s := range []statemachine.CertState{statemachine.PendingSubmission, statemachine.PendingApplication,
		statemachine.ValidatingApplication, statemachine.ValidationFailed, statemachine.Issued,
		statemachine.ValidatingRevocation, statemachine.Revoked, statemachine.NotActivated} {
		if !states[s] {
			t.Errorf("no certificate in state %s", s)
		}
	}
	for _, p := range domain.Products {
		if !products[p] {
			t.Errorf("no order of product %s", p)
		}
	}
	for _, p := range []string{"aliyun-intl", "aliyun-cn", "tencent"} {
		if !profiles[p] {
			t.Errorf("no order of profile %s", p)
		}
	}
	refused := 0
	for _, d := range orders {
		if !d.Eligible {
			refused++
		}
	}
	if refused < 2 {
		t.Errorf("%d refused orders, want at least 2", refused)
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Every demo order passes the intake validator: the demo registers them
// through PUT /v1/orders/{id}.
func TestDemoOrdersPassIntake(t *testing.T) {
	now := time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	v := intake.Validator{Registry: reg}
	for _, d := range demoOrders(now) {
		if err := v.Validate(d.Order, now); err != nil {
			t.Errorf("%s: %v", d.Order.ID, err)
		}
	}
}

// endpoints.json has exactly the fields the issue names, readable by its
// owner only; the production topology lists both gateways and no Web UI
// (the real server has none).
func TestWriteEndpoints(t *testing.T) {
	tests := map[string]struct {
		topology, temporalAddress string
		gateways                  []any
		webUI, temporal           string
	}{
		"dev": {topology: topologyDev, gateways: []any{"http://127.0.0.1:18080"}, webUI: "http://localhost:18233", temporal: "localhost:17233"},
		"production": {topology: topologyProduction, temporalAddress: "127.0.0.1:27233",
			gateways: []any{"http://127.0.0.1:18080", "http://127.0.0.1:18084"}, temporal: "127.0.0.1:27233"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := &runner{o: options{dir: dir, topology: tc.topology, temporalAddress: tc.temporalAddress, gatewayAddr: "127.0.0.1:18080",
				gateway2Addr: "127.0.0.1:18084", uiPort: 18233, temporalPort: 17233, sinkAddr: "127.0.0.1:18083",
				casimAddr: "127.0.0.1:18081", paysimAddr: "127.0.0.1:18082"}, token: "ca-token",
				api: map[string]string{"console": "c", "operator": "o", "operator2": "o2"}, eventSecret: []byte("0123456789abcdef0123456789abcdef")}
			if err := r.writeEndpoints(context.Background()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, endpointsFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"topology": tc.topology, "gateway": "http://127.0.0.1:18080", "gateways": tc.gateways,
				"web_ui": tc.webUI, "temporal": tc.temporal,
				"tokens": map[string]any{"console": "c", "operator": "o", "operator2": "o2"},
				"events": map[string]any{"endpoint": "console", "url": "http://127.0.0.1:18083/events",
					"log": filepath.Join(dir, "eventsink.log"), "file": filepath.Join(dir, eventsFile),
					"secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="},
				"ops": "http://127.0.0.1:18080/ops/", "ca": map[string]any{"url": "http://127.0.0.1:18081", "token": "ca-token"},
				"pay": map[string]any{"url": "http://127.0.0.1:18082", "token": "ca-token"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("endpoints.json = %v, want %v", got, want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}
