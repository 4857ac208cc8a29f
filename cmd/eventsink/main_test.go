package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/webhook"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func event(id, order string) []byte {
	b, _ := json.Marshal(ports.Event{ID: id, Type: ports.EventRefundPaid, OrderID: order, OccurredAt: time.Now().UTC(),
		Data: json.RawMessage(`{"order_id":"` + order + `","state":"refunded","outcome":"paid"}`), Cursor: "1"})
	return b
}

func post(t *testing.T, h http.Handler, secret []byte, id string, body []byte) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(body))
	for k, v := range webhook.Headers(secret, id, time.Now(), body) {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestSinkVerifiesDeduplicatesLogsAndAppends(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events.jsonl")
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := newSink(&Main{Secrets: [][]byte{testSecret}, Out: out}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	steps := []struct {
		name   string
		secret []byte
		id     string
		body   []byte
		want   int
	}{
		{"first event", testSecret, "evt_1", event("evt_1", "o-1"), http.StatusNoContent},
		{"the same again", testSecret, "evt_1", event("evt_1", "o-1"), http.StatusNoContent},
		{"wrong secret", []byte("another-secret-of-32-bytes-long!"), "evt_2", event("evt_2", "o-1"), http.StatusUnauthorized},
		{"id not the event's", testSecret, "evt_3", event("evt_9", "o-1"), http.StatusBadRequest},
		{"second event", testSecret, "evt_2", event("evt_2", "o-2"), http.StatusNoContent},
	}
	for _, st := range steps {
		if got := post(t, h, st.secret, st.id, st.body); got != st.want {
			t.Errorf("%s: status %d, want %d", st.name, got, st.want)
		}
	}
	s.Close()
	if n := logs.FilterMessage("event").Len(); n != 2 {
		t.Errorf("%d event lines logged, want 2", n)
	}
	if l := logs.FilterMessage("event").All(); len(l) > 0 && l[0].ContextMap()["state"] != "refunded (paid)" {
		t.Errorf("logged state %v", l[0].ContextMap()["state"])
	}
	f, _ := os.Open(out)
	defer f.Close()
	var ids []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.WebhookID)
	}
	if strings.Join(ids, ",") != "evt_1,evt_2" {
		t.Errorf("file holds %v, want evt_1,evt_2", ids)
	}

	// A restarted sink still knows what it received.
	again, err := newSink(&Main{Secrets: [][]byte{testSecret}, Out: out}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Len() != 2 {
		t.Errorf("restarted sink knows %d ids, want 2", again.Len())
	}
}

func TestSinkSimulatesFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		m    Main
		want int
	}{
		"fixed status":   {Main{Status: http.StatusGone}, http.StatusGone},
		"always failing": {Main{FailRate: 1}, http.StatusServiceUnavailable},
		"never failing":  {Main{FailRate: 0}, http.StatusNoContent},
		"500 on purpose": {Main{Status: 500}, 500},
	} {
		t.Run(name, func(t *testing.T) {
			tc.m.Secrets = [][]byte{testSecret}
			s, err := newSink(&tc.m, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			if got := post(t, s.Handler(), testSecret, "evt_1", event("evt_1", "o-1")); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			if tc.want != http.StatusNoContent && s.Len() != 0 {
				t.Error("a failed delivery was recorded")
			}
		})
	}
}

func TestParse(t *testing.T) {
	good := "whsec_" + base64.StdEncoding.EncodeToString(testSecret)
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string // in the error; "" for none
	}{
		"defaults":                      {nil, map[string]string{"EVENTSINK_SECRETS": good}, ""},
		"flags as the demo passes them": {[]string{"-addr", "127.0.0.1:0", "-out", "e.jsonl", "-dev-log"}, map[string]string{"EVENTSINK_SECRETS": good}, ""},
		"bad dev-log env":               {nil, map[string]string{"EVENTSINK_SECRETS": good, "EVENTSINK_DEV_LOG": "yes please"}, "EVENTSINK_DEV_LOG"},
		"no secret":                     {nil, nil, "EVENTSINK_SECRETS"},
		"bad secret":                    {[]string{"-secrets", "whsec_!!"}, nil, "EVENTSINK_SECRETS"},
		"bad status":                    {[]string{"-secrets", good, "-status", "42"}, nil, "EVENTSINK_STATUS"},
		"bad fail rate":                 {[]string{"-secrets", good, "-fail-rate", "2"}, nil, "EVENTSINK_FAIL_RATE"},
	} {
		t.Run(name, func(t *testing.T) {
			var help bytes.Buffer
			_, err := parse(append(tc.args, "-h"), func(k string) string { return tc.env[k] }, &help)
			if strings.Contains(help.String(), strings.TrimPrefix(good, "whsec_")) {
				t.Error("-h prints the secret")
			}
			_, err = parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
