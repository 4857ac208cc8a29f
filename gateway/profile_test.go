package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store"
)

// TestProfileStatusGET is a tool, not a check (docs/performance.md, "Why
// the status GET's tail was seconds"): with CERTFLOW_PROFILE_STATUS_GET
// set to a file name and CERTFLOW_TEST_POSTGRES to a PostgreSQL DSN
// (scripts/with-postgres exports one), it serves the gateway over a
// PostgreSQL store of 2,000 refunds and sends 6,000 status GETs from 200
// clients, once with database/sql's own pool settings and once with the
// store's, logging p50, p99 and the rate of each and writing the CPU
// profile of the second to the file. It asserts nothing about speed.
func TestProfileStatusGET(t *testing.T) {
	out, dsn := os.Getenv("CERTFLOW_PROFILE_STATUS_GET"), os.Getenv(testPostgresDSN)
	if out == "" || dsn == "" {
		t.Skipf("set CERTFLOW_PROFILE_STATUS_GET (a file) and %s to run the profile", testPostgresDSN)
	}
	for _, maxConns := range []int{-1, 0} {
		lat, rate := profileStatusGETs(t, dsn, maxConns, out)
		t.Logf("store.WithMaxConns(%d): %d GETs at 200 clients: p50 %s, p99 %s, max %s, %.0f/s", maxConns, len(lat),
			lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], rate)
	}
}

const testPostgresDSN = "CERTFLOW_TEST_POSTGRES"

func profileStatusGETs(t *testing.T, dsn string, maxConns int, out string) ([]time.Duration, float64) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.WithMaxConns(maxConns))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const orders, n, clients = 2000, 6000, 200
	for i := range orders {
		o := sslOrder(fmt.Sprintf("p-%d", i))
		if err := db.PutOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveRefund(ctx, ports.RefundRecord{OrderID: o.ID, State: "committed", Outcome: "pending", UpdatedAt: testNow}); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := NewTokens(testTokens...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Workflows: newFakeWorkflows(), Orders: db, Judge: (&fakeJudge{}).judge, Validate: (&fakeOrders{}).validateNothing,
		Tokens: tokens, RateLimit: RateLimit{Rate: 1e9, Burst: 1 << 30}, WebhookSecrets: [][]byte{testSecret}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	web := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	run := func(n int) []time.Duration {
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					req, _ := http.NewRequest(http.MethodGet, srv.URL+fmt.Sprintf("/v1/orders/p-%d/refund", i%orders), nil)
					req.Header.Set("Authorization", "Bearer "+consoleToken)
					start := time.Now()
					resp, err := web.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("GET: %d", resp.StatusCode)
					}
					lat[i] = time.Since(start)
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		return lat
	}
	run(2 * clients) // warm-up: connections opened
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lat := run(n)
	rate := n / time.Since(start).Seconds()
	pprof.StopCPUProfile()
	return lat, rate
}
