// Command casim runs the simulated certificate authority (package casim)
// for demos: it serves the CA protocol and posts signed revocation review
// results to the callback URL. Stop it with SIGINT or SIGTERM.
//
// Every flag has an environment variable; a flag given on the command line
// wins:
//
//	-addr            CASIM_ADDR            listen address (default 127.0.0.1:8090)
//	-token           CASIM_TOKEN           bearer token clients must send (required)
//	-callback-url    CASIM_CALLBACK_URL    where review results are posted; several URLs
//	                                       separated by commas are posted to in turn
//	-webhook-secret  CASIM_WEBHOOK_SECRET  "whsec_<base64>" signing secret, read by webhook.ParseSecret
//	                                       (required with a callback URL)
//	-review-delay    CASIM_REVIEW_DELAY    how long a revocation review takes (default 5s)
//	-behaviours      CASIM_BEHAVIOURS      JSON file {"<cert id>": {"revocation": "reject", ...}}
//	-db              CASIM_DB              casim's own SQLite file: reviews and undelivered callbacks
//	                                       survive a restart (default: memory only)
//	-callback-attempts     CASIM_CALLBACK_ATTEMPTS     delivery attempts before giving up (default 15)
//	-callback-backoff      CASIM_CALLBACK_BACKOFF      first retry's wait, doubled each time (default 1s)
//	-callback-max-backoff  CASIM_CALLBACK_MAX_BACKOFF  longest wait between attempts (default 30s)
//	-dev-log         CASIM_DEV_LOG         human-readable logs instead of JSON
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/internal/app/program"
	"github.com/certflow/certflow/webhook"
)

func main() {
	program.Main("casim", func() (*Main, error) { return parse(os.Args[1:], os.Getenv) })
}

// Main is the casim program's configuration.
type Main struct {
	Addr          string
	Token         string
	CallbackURL   string
	WebhookSecret string
	ReviewDelay   time.Duration
	Behaviours    string
	DB            string
	Retry         casim.Retry
	MaxDeliveries int
	DevLog        bool
}

// parse reads flags, defaulting each to its environment variable.
func parse(args []string, getenv func(string) string) (*Main, error) {
	env := program.Env(getenv)
	delay, err := time.ParseDuration(env("CASIM_REVIEW_DELAY", "5s"))
	if err != nil {
		return nil, fmt.Errorf("CASIM_REVIEW_DELAY: %w", err)
	}
	devLog, _ := strconv.ParseBool(env("CASIM_DEV_LOG", "false"))
	attempts, err := strconv.Atoi(env("CASIM_CALLBACK_ATTEMPTS", strconv.Itoa(casim.DefaultRetry.Attempts)))
	if err != nil {
		return nil, fmt.Errorf("CASIM_CALLBACK_ATTEMPTS: %w", err)
	}
	backoff, err := time.ParseDuration(env("CASIM_CALLBACK_BACKOFF", casim.DefaultRetry.Initial.String()))
	if err != nil {
		return nil, fmt.Errorf("CASIM_CALLBACK_BACKOFF: %w", err)
	}
	maxBackoff, err := time.ParseDuration(env("CASIM_CALLBACK_MAX_BACKOFF", casim.DefaultRetry.Max.String()))
	if err != nil {
		return nil, fmt.Errorf("CASIM_CALLBACK_MAX_BACKOFF: %w", err)
	}

	maxDeliveries, err := strconv.Atoi(env("CASIM_MAX_DELIVERIES", strconv.Itoa(casim.DefaultMaxDeliveries)))
	if err != nil || maxDeliveries < 1 {
		return nil, fmt.Errorf("CASIM_MAX_DELIVERIES: want a whole number of at least 1, got %q", env("CASIM_MAX_DELIVERIES", ""))
	}

	m := &Main{}
	fs := flag.NewFlagSet("casim", flag.ContinueOnError)
	fs.StringVar(&m.Addr, "addr", env("CASIM_ADDR", "127.0.0.1:8090"), "listen address (CASIM_ADDR)")
	fs.StringVar(&m.Token, "token", getenv("CASIM_TOKEN"), "bearer token clients must send (CASIM_TOKEN)")
	fs.StringVar(&m.CallbackURL, "callback-url", getenv("CASIM_CALLBACK_URL"), "URL review results are posted to; several separated by commas are posted to in turn, one attempt each (CASIM_CALLBACK_URL)")
	fs.StringVar(&m.WebhookSecret, "webhook-secret", getenv("CASIM_WEBHOOK_SECRET"), "whsec_<base64> signing secret (CASIM_WEBHOOK_SECRET)")
	fs.DurationVar(&m.ReviewDelay, "review-delay", delay, "revocation review duration (CASIM_REVIEW_DELAY)")
	fs.StringVar(&m.Behaviours, "behaviours", getenv("CASIM_BEHAVIOURS"), "JSON file of per-certificate behaviours (CASIM_BEHAVIOURS)")
	fs.StringVar(&m.DB, "db", getenv("CASIM_DB"), "casim's own SQLite file; empty keeps everything in memory (CASIM_DB)")
	fs.IntVar(&m.Retry.Attempts, "callback-attempts", attempts, "callback delivery attempts before giving up (CASIM_CALLBACK_ATTEMPTS)")
	fs.DurationVar(&m.Retry.Initial, "callback-backoff", backoff, "first callback retry's wait, doubled each time (CASIM_CALLBACK_BACKOFF)")
	fs.DurationVar(&m.Retry.Max, "callback-max-backoff", maxBackoff, "longest wait between callback attempts (CASIM_CALLBACK_MAX_BACKOFF)")
	fs.IntVar(&m.MaxDeliveries, "max-deliveries", maxDeliveries, "callback attempts in flight at once (CASIM_MAX_DELIVERIES)")
	fs.BoolVar(&m.DevLog, "dev-log", devLog, "human-readable logs (CASIM_DEV_LOG)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if m.Retry.Attempts < 1 || m.Retry.Initial <= 0 || m.Retry.Max < m.Retry.Initial {
		return nil, fmt.Errorf("callback retry: want -callback-attempts >= 1 and 0 < -callback-backoff <= -callback-max-backoff, got %d, %s, %s",
			m.Retry.Attempts, m.Retry.Initial, m.Retry.Max)
	}
	if m.MaxDeliveries < 1 {
		return nil, fmt.Errorf("-max-deliveries: want at least 1, got %d", m.MaxDeliveries)
	}
	if m.Token == "" {
		return nil, errors.New("a bearer token is required (-token or CASIM_TOKEN)")
	}
	return m, nil
}

// Run builds the simulator and serves it until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	log, err := program.Logger(m.DevLog)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	cfg := casim.Config{
		Token:       m.Token,
		CallbackURL: m.CallbackURL,
		ReviewDelay: m.ReviewDelay,
		Logger:      log,
		DBPath:      m.DB,
		Retry:       m.Retry,
		// MaxDeliveries bounds the callbacks posted at once.
		MaxDeliveries: m.MaxDeliveries,
	}
	if m.WebhookSecret != "" {
		if cfg.WebhookSecret, err = webhook.ParseSecret(m.WebhookSecret); err != nil {
			return err
		}
	}
	if m.Behaviours != "" {
		if cfg.Behaviours, err = readBehaviours(m.Behaviours); err != nil {
			return err
		}
	}
	sim, err := casim.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		sim.Close()
		return err
	}
	if m.CallbackURL == "" {
		log.Warn("no callback URL: review results are only visible through GET /v1/certificates/{id}/revocation")
	}
	log.Info("casim starting", zap.String("callback_url", m.CallbackURL),
		zap.Duration("review_delay", m.ReviewDelay), zap.Int("behaviours", len(cfg.Behaviours)),
		zap.String("db", m.DB), zap.Int("callback_attempts", m.Retry.Attempts))
	err = sim.Serve(ctx, ln)
	log.Info("casim stopped")
	return err
}

// readBehaviours reads a JSON object of certificate ID → casim.Behaviour.
func readBehaviours(path string) (map[string]casim.Behaviour, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading behaviours: %w", err)
	}
	var b map[string]casim.Behaviour
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parsing behaviours %s: %w", path, err)
	}
	return b, nil
}
