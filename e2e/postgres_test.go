package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/refund"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/caclient"
	"github.com/certflow/certflow/activities/payclient"
	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows"
)

// postgresDSN returns a DSN for a fresh schema of the PostgreSQL database
// of CERTFLOW_TEST_POSTGRES, dropped when the test ends. Without it the
// test skips, or fails when CERTFLOW_REQUIRE_POSTGRES is set (CI).
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("CERTFLOW_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CERTFLOW_REQUIRE_POSTGRES") != "" {
			t.Fatal("CERTFLOW_REQUIRE_POSTGRES is set but CERTFLOW_TEST_POSTGRES holds no PostgreSQL DSN")
		}
		t.Skip("CERTFLOW_TEST_POSTGRES is not set (a postgres:// DSN runs this test)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "e2e_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("CERTFLOW_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// countingPayments counts the refund requests one worker sent.
type countingPayments struct {
	activities.Payments
	n atomic.Int64
}

func (c *countingPayments) Refund(ctx context.Context, req activities.PayoutRequest) (activities.ProviderRefund, error) {
	c.n.Add(1)
	return c.Payments.Refund(ctx, req)
}

// Two workers and two gateways, each with its own connection pool to one
// PostgreSQL database, and one Temporal dev server refund 200 orders
// registered through the gateways, each refund requested through both
// gateways at once: every refund completes, and the ledger holds exactly
// one paid payout per order, the provider exactly one succeeded refund.
func TestTwoWorkersOnPostgresRefund200Orders(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	srv := startTemporal(t, ctx)

	ca, err := casim.New(casim.Config{Token: caToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	caSrv := httptest.NewServer(ca.Handler())
	t.Cleanup(caSrv.Close)
	pay, err := paysim.New(ctx, paysim.Config{Token: caToken, DB: filepath.Join(t.TempDir(), "paysim.db"), SettleDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	paySrv := httptest.NewServer(pay.Handler())
	t.Cleanup(paySrv.Close)
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}

	// The test's own pool seeds and checks.
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if db.Dialect() != "postgres" {
		t.Fatalf("dialect %s, want postgres", db.Dialect())
	}
	const orders = 200
	paid := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	ids := make([]string, orders)
	orderBodies := make([]domain.Order, orders)
	for i := range orders {
		ids[i] = fmt.Sprintf("pg-%03d", i)
		o := domain.Order{ID: ids[i], Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
			Price: decimal.RequireFromString("100.00"), ValidityYears: 1,
			Payment: domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")}}
		if i%10 == 9 {
			// Some go through the CA first (withdraw, then cancel).
			o.Certificates = []domain.Certificate{{ID: "c-" + ids[i], State: statemachine.PendingApplication}}
		}
		orderBodies[i] = o
	}

	counters := make([]*countingPayments, 2)
	for i := range counters {
		// Each worker has its own store, i.e. its own pool of connections.
		wdb, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = wdb.Close() })
		cac, err := caclient.New(caclient.Config{BaseURL: caSrv.URL, Token: caToken})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := payclient.New(payclient.Config{BaseURL: paySrv.URL, Token: caToken})
		if err != nil {
			t.Fatal(err)
		}
		counters[i] = &countingPayments{Payments: pc}
		opts := testenv.WorkerOptions()
		opts.Identity = fmt.Sprintf("pg-worker-%d", i)
		w := worker.New(srv.client, workflows.TaskQueue, opts)
		workflows.Register(w)
		workflows.RegisterActivities(w, activities.Deps{CA: cac, Payments: counters[i], Store: wdb,
			Policies: &activities.RegistryPolicies{Registry: reg}, PayPollInterval: 50 * time.Millisecond})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}

	// Two gateways, each with its own pool, register the orders (alternately)
	// and take every refund request twice, once each, at the same moment:
	// the two gateways race on every order and still start one workflow.
	gws := make([]*httptest.Server, 2)
	tokens, err := gateway.NewTokens("pg-console:console:" + consoleToken)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gws {
		gdb, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gdb.Close() })
		g, err := gateway.New(gateway.Config{Workflows: gateway.NewTemporal(srv.client), Orders: gdb,
			Judge: gateway.PolicyJudge(&activities.RegistryPolicies{Registry: reg}), Validate: intake.Validator{Registry: reg}.Validate,
			Tokens: tokens, WebhookSecrets: [][]byte{[]byte("pg-test-webhook-secret-0123456789")}, Logger: zap.NewNop(),
			// One test client sends hundreds of requests a second.
			RateLimit: gateway.RateLimit{Rate: 1e6, Burst: 1e6}})
		if err != nil {
			t.Fatal(err)
		}
		runIntake(t, g)
		gws[i] = httptest.NewServer(g.Handler())
		t.Cleanup(gws[i].Close)
	}
	send := func(method, url string, body any) (int, string) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+consoleToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	for i, o := range orderBodies {
		if code, body := send(http.MethodPut, gws[i%2].URL+"/v1/orders/"+o.ID, o); code != http.StatusCreated {
			t.Fatalf("PUT order %s through gateway %d: %d %s", o.ID, i%2, code, body)
		}
	}
	var reqWG sync.WaitGroup
	reqErrs := make(chan string, 2*orders)
	sem := make(chan struct{}, 20)
	for _, id := range ids {
		for g := range gws {
			reqWG.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				code, body := send(http.MethodPost, gws[g].URL+"/v1/orders/"+id+"/refund", map[string]any{"consent": true, "confirm_irreversible": true})
				// The other gateway's request may have been paid already:
				// then this one is refused as a second payout (M-3).
				paidAlready := code == http.StatusConflict && strings.Contains(body, `"rules":["M-3"]`)
				if code != http.StatusAccepted && !paidAlready {
					reqErrs <- fmt.Sprintf("%s via gateway %d: %d %s", id, g, code, body)
				}
			})
		}
	}
	reqWG.Wait()
	close(reqErrs)
	for e := range reqErrs {
		t.Errorf("refund request: %s", e)
	}
	if t.Failed() {
		t.FailNow()
	}
	// A 202 records the request; its workflow's start follows (durable
	// intake): wait until every accepted request started, then follow
	// each refund to its end.
	for _, id := range ids {
		for {
			q, err := db.GetRefundRequest(ctx, id)
			if err == nil && q.State == ports.RequestStarted {
				break
			}
			if err == nil && q.State == ports.RequestFailed {
				// Refused at its start: a refund of the order paid
				// meanwhile (M-3); its first request's run is the one.
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("refund request of %s not started: %+v, %v", id, q, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	runs := make([]client.WorkflowRun, orders)
	for i, id := range ids {
		runs[i] = srv.client.GetWorkflow(ctx, refund.WorkflowID(id), "")
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	for i, run := range runs {
		wg.Go(func() {
			var st refund.Status
			err := run.Get(ctx, &st)
			if err == nil && st.Outcome == refund.OutcomeRefunded && st.Payout != nil && st.Payout.Cash == "80.00" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, fmt.Sprintf("%s: %v %s %s", ids[i], err, st.Outcome, st.Message))
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d refunds did not end refunded 80.00: %v", len(failures), orders, failures)
	}

	for _, id := range ids {
		ps, err := db.Payouts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].Status != ports.PayoutPaid || ps[0].Request.Cash.String() != "80.00" {
			t.Fatalf("M-4: ledger of %s = %+v, want exactly one paid payout of 80.00", id, ps)
		}
		refs, err := pay.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0].Status != paysim.StatusSucceeded || refs[0].ID != ps[0].ProviderID {
			t.Fatalf("provider refunds of %s = %+v, want exactly one succeeded, %s", id, refs, ps[0].ProviderID)
		}
	}
	a, b := counters[0].n.Load(), counters[1].n.Load()
	t.Logf("refund requests sent: worker 0 %d, worker 1 %d", a, b)
	if a == 0 || b == 0 || a+b < orders {
		t.Fatalf("refund requests per worker %d and %d: want both workers paying, %d in all at least", a, b, orders)
	}
}
