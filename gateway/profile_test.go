package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store"
)

// BenchmarkStatusGET200Clients measures the status GET's tail
// (docs/performance.md, "Why the status GET's tail was seconds"): over a
// PostgreSQL store of 2,000 refunds (CERTFLOW_TEST_POSTGRES, which
// scripts/with-postgres exports), 200 clients send b.N status GETs
// (at least 6,000), once with database/sql's own pool settings and once
// with the store's, and report p50 and p99. A benchmark, so `go test`
// never runs it; -cpuprofile gives the profile:
//
//	scripts/with-postgres go test ./gateway -run '^$' -bench StatusGET200Clients -benchtime 6000x -cpuprofile /tmp/status-get.cpu
func BenchmarkStatusGET200Clients(b *testing.B) {
	dsn := os.Getenv(testPostgresDSN)
	if dsn == "" {
		b.Skipf("set %s to a PostgreSQL DSN (scripts/with-postgres does)", testPostgresDSN)
	}
	for _, pool := range []struct {
		name     string
		maxConns int
	}{{"database-sql-defaults", -1}, {"store-pool", 0}} {
		b.Run(pool.name, func(b *testing.B) {
			lat := profileStatusGETs(b, dsn, pool.maxConns, max(b.N, 6000))
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

const testPostgresDSN = "CERTFLOW_TEST_POSTGRES"

func profileStatusGETs(t testing.TB, dsn string, maxConns, n int) []time.Duration {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.WithMaxConns(maxConns))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const orders, clients = 2000, 200
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
	if b, ok := t.(*testing.B); ok {
		b.ResetTimer()
	}
	return run(n)
}
