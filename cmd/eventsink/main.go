// Command eventsink is a small console-side receiver of certflow's
// outbound events (docs/event-delivery.md), for the demo and for tests: it
// verifies each delivery's Standard Webhooks signature (package webhook),
// deduplicates by webhook-id (delivery is at least once), logs one line
// per new event (type, order, certificate, state) and appends it to a
// JSONL file, and answers 204. It can simulate a failing console.
//
// Every flag has an environment variable; a flag given on the command line
// wins:
//
//	-addr       EVENTSINK_ADDR       listen address (default 127.0.0.1:8083); events are POSTed to any path
//	-secrets    EVENTSINK_SECRETS    comma-separated whsec_<base64> secrets, all accepted (required)
//	-out        EVENTSINK_OUT        JSONL file the new events are appended to (optional); the webhook-ids
//	                                 already in it count as received, so a restart still deduplicates
//	-status     EVENTSINK_STATUS     answer this status to every verified delivery instead, without
//	                                 recording it (e.g. 500, or 410 to have the endpoint disabled)
//	-fail-rate  EVENTSINK_FAIL_RATE  fraction (0 to 1) of verified deliveries answered 503, unrecorded
//	-dev-log    EVENTSINK_DEV_LOG    human-readable logs instead of JSON
//
// GET /healthz answers 200. Stop it with SIGINT or SIGTERM.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/internal/app/program"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/webhook"
)

func main() {
	program.Main("eventsink", func() (*Main, error) { return parse(os.Args[1:], os.Getenv, os.Stderr) })
}

// Main is the program's configuration.
type Main struct {
	Addr     string
	Secrets  [][]byte
	Out      string
	Status   int
	FailRate float64
	DevLog   bool
}

// maxBody bounds a delivery's body.
const maxBody = 1 << 20

func parse(args []string, getenv func(string) string, output io.Writer) (*Main, error) {
	env := program.Env(getenv)
	m := &Main{}
	devLog, err := strconv.ParseBool(env("EVENTSINK_DEV_LOG", "false"))
	if err != nil {
		return nil, fmt.Errorf("EVENTSINK_DEV_LOG %q is not true or false", getenv("EVENTSINK_DEV_LOG"))
	}
	var secrets, status, failRate string
	fs := flag.NewFlagSet("eventsink", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&m.Addr, "addr", env("EVENTSINK_ADDR", "127.0.0.1:8083"), "listen address (EVENTSINK_ADDR)")
	// Not defaulted from the environment: -h would print the secret.
	fs.StringVar(&secrets, "secrets", "", "comma-separated whsec_<base64> secrets (EVENTSINK_SECRETS; prefer the environment)")
	fs.StringVar(&m.Out, "out", getenv("EVENTSINK_OUT"), "JSONL file the new events are appended to (EVENTSINK_OUT)")
	fs.StringVar(&status, "status", getenv("EVENTSINK_STATUS"), "answer this status to every verified delivery, unrecorded (EVENTSINK_STATUS)")
	fs.StringVar(&failRate, "fail-rate", env("EVENTSINK_FAIL_RATE", "0"), "fraction of verified deliveries answered 503, unrecorded (EVENTSINK_FAIL_RATE)")
	fs.BoolVar(&m.DevLog, "dev-log", devLog, "human-readable logs (EVENTSINK_DEV_LOG)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if secrets == "" {
		secrets = getenv("EVENTSINK_SECRETS")
	}
	for i, s := range strings.Split(secrets, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		b, err := webhook.ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("EVENTSINK_SECRETS: secret %d is not whsec_<base64>", i+1)
		}
		m.Secrets = append(m.Secrets, b)
	}
	if len(m.Secrets) == 0 {
		return nil, errors.New("EVENTSINK_SECRETS (-secrets) is required: deliveries cannot be verified without it")
	}
	if status != "" {
		n, err := strconv.Atoi(status)
		if err != nil || n < 200 || n > 599 {
			return nil, fmt.Errorf("EVENTSINK_STATUS %q is not an HTTP status", status)
		}
		m.Status = n
	}
	if m.FailRate, err = strconv.ParseFloat(failRate, 64); err != nil || m.FailRate < 0 || m.FailRate > 1 {
		return nil, fmt.Errorf("EVENTSINK_FAIL_RATE %q is not a number from 0 to 1", failRate)
	}
	return m, nil
}

// Run serves until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	log, err := program.Logger(m.DevLog)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	s, err := newSink(m, log)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("EVENTSINK_ADDR %s: %w", m.Addr, err)
	}
	log.Info("eventsink started", zap.String("addr", ln.Addr().String()), zap.String("out", m.Out),
		zap.Int("known_ids", s.Len()), zap.Int("status", m.Status), zap.Float64("fail_rate", m.FailRate))
	return program.Serve(ctx, ln, s.Handler())
}

// sink receives events. Safe for concurrent use.
type sink struct {
	m      *Main
	verify *webhook.Verifier
	log    *zap.Logger
	rand   func() float64

	mu   sync.Mutex
	seen map[string]bool
	out  *os.File
}

// record is one line of the JSONL file.
type record struct {
	ReceivedAt time.Time   `json:"received_at"`
	WebhookID  string      `json:"webhook_id"`
	Event      ports.Event `json:"event"`
}

func newSink(m *Main, log *zap.Logger) (*sink, error) {
	s := &sink{m: m, verify: &webhook.Verifier{Secrets: m.Secrets}, log: log, rand: rand.Float64, seen: map[string]bool{}}
	if m.Out == "" {
		return s, nil
	}
	if err := s.load(m.Out); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(m.Out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("EVENTSINK_OUT: %w", err)
	}
	s.out = f
	return s, nil
}

// load remembers the webhook-ids already in the file.
func (s *sink) load(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("EVENTSINK_OUT: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 2*maxBody)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.WebhookID != "" {
			s.seen[r.WebhookID] = true
		}
	}
	return sc.Err()
}

// Len is the number of distinct webhook-ids received.
func (s *sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *sink) Close() error {
	if s.out != nil {
		return s.out.Close()
	}
	return nil
}

func (s *sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /", s.receive)
	return mux
}

func (s *sink) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	id, err := s.verify.Verify(r.Header, body)
	if err != nil {
		s.log.Warn("delivery refused: signature not verified", zap.Error(err))
		http.Error(w, "signature not verified", http.StatusUnauthorized)
		return
	}
	if s.m.Status != 0 {
		w.WriteHeader(s.m.Status)
		return
	}
	if s.m.FailRate > 0 && s.rand() < s.m.FailRate {
		http.Error(w, "simulated failure", http.StatusServiceUnavailable)
		return
	}
	var e ports.Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != id {
		// Signed, but not an event: the sender has a bug; a retry cannot
		// help, but 400 makes it visible in its metrics.
		http.Error(w, "not an event, or its id is not the webhook-id", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[id] {
		s.log.Debug("duplicate delivery ignored", zap.String("webhook_id", id))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.out != nil {
		line, _ := json.Marshal(record{ReceivedAt: time.Now().UTC(), WebhookID: id, Event: e})
		if _, err := s.out.Write(append(line, '\n')); err != nil {
			s.log.Error("appending the event failed", zap.Error(err))
			http.Error(w, "cannot store the event", http.StatusInternalServerError)
			return
		}
	}
	s.seen[id] = true
	s.log.Info("event", zap.String("type", string(e.Type)), zap.String("order", e.OrderID),
		zap.String("certificate", e.CertificateID), zap.String("state", stateOf(e)), zap.String("id", id))
	w.WriteHeader(http.StatusNoContent)
}

// stateOf is the state after the change: the certificate's for its
// events, the refund's otherwise (with its outcome when known).
func stateOf(e ports.Event) string {
	if e.Type == ports.EventCertificateStateChanged {
		var c ports.CertificateChange
		if json.Unmarshal(e.Data, &c) == nil {
			return c.From + "→" + c.State
		}
		return ""
	}
	var rec struct {
		State   string `json:"state"`
		Outcome string `json:"outcome"`
	}
	if json.Unmarshal(e.Data, &rec) != nil {
		return ""
	}
	if rec.Outcome != "" && rec.Outcome != rec.State {
		return rec.State + " (" + rec.Outcome + ")"
	}
	return rec.State
}
