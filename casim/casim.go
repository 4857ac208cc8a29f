package casim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Revocation is how the simulated CA answers a certificate's revocation
// review.
type Revocation string

// The review answers. The empty value means RevocationApprove.
const (
	RevocationApprove Revocation = "approve"
	RevocationReject  Revocation = "reject"
	// RevocationNever leaves the review pending: no result, no callback,
	// until the behaviour is changed.
	RevocationNever Revocation = "never"
)

// Behaviour is how the simulated CA treats one certificate.
type Behaviour struct {
	// Revocation is the review's answer; "" approves.
	Revocation Revocation `json:"revocation,omitempty"`
	// RejectionReason is the reason a rejected review carries; "" gives a
	// default text.
	RejectionReason string `json:"rejection_reason,omitempty"`
	// ResubmitRejected, when set, makes the CA refuse a resubmission with
	// this reason (SSL-6: e.g. "missing contact ID number").
	ResubmitRejected string `json:"resubmit_rejected,omitempty"`
}

// Validate reports whether b names a known review answer.
func (b Behaviour) Validate() error {
	switch b.Revocation {
	case "", RevocationApprove, RevocationReject, RevocationNever:
		return nil
	}
	return fmt.Errorf("unknown revocation behaviour %q (want approve, reject or never)", b.Revocation)
}

// Retry is the callback delivery's backoff: the first retry waits Initial,
// each next one twice as long up to Max, and delivery gives up after
// Attempts tries.
type Retry struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultMaxDeliveries is how many callback attempts a Sim makes at once
// unless configured: enough to keep a gateway busy, never a connection
// per decided review (10,000 reviews decided at once would otherwise open
// 10,000 connections to the receiver).
const DefaultMaxDeliveries = 32

// DefaultRetry retries for about five minutes.
var DefaultRetry = Retry{Initial: time.Second, Max: 30 * time.Second, Attempts: 15}

// Config configures a Sim. Token is required, and so is WebhookSecret
// when CallbackURL is set.
type Config struct {
	// Token is the bearer token every request but /healthz must carry.
	Token string
	// CallbackURL receives the signed review results: one URL, or several
	// separated by commas, posted to in turn, one attempt each (as a load
	// balancer in front of several gateways spreads them; a retry goes to
	// the next). Empty: results are only visible through GET .../revocation.
	CallbackURL string
	// WebhookSecret is the HMAC key of the callback signatures (the
	// decoded bytes of a "whsec_..." secret).
	WebhookSecret []byte
	// ReviewDelay is how long a revocation review takes.
	ReviewDelay time.Duration
	// Behaviours are the initial per-certificate behaviours; certificates
	// not listed are approved.
	Behaviours map[string]Behaviour
	// Retry is the callback backoff; the zero value means DefaultRetry.
	Retry Retry
	// Clock defaults to SystemClock.
	Clock Clock
	// HTTPClient posts the callbacks; nil means a client with a 10s
	// timeout that keeps MaxDeliveries connections to the receiver open.
	HTTPClient *http.Client
	// MaxDeliveries bounds the callback attempts in flight at once, as a
	// CA's delivery pool does; the others wait their turn. Zero means
	// DefaultMaxDeliveries.
	MaxDeliveries int
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// NewID returns a fresh unique token for review and event IDs; nil
	// means 12 random bytes in hex.
	NewID func() string
	// DBPath is casim's own SQLite file: reviews, behaviours and the
	// callbacks still being delivered survive a restart (open reviews are
	// decided on time, undelivered callbacks retried). Empty: memory only.
	DBPath string
}

// Sim is the simulated CA. Create it with New, serve Handler (or call
// Serve), and Close it to stop the reviews and deliveries in flight.
type Sim struct {
	cfg Config
	log *zap.Logger
	// callbacks are the URLs of Config.CallbackURL; attempt n goes to
	// callbacks[n % len] (sent counts the attempts).
	callbacks []string
	sent      atomic.Uint64

	mu         sync.Mutex
	certs      map[string]*certificate
	behaviours map[string]Behaviour
	events     map[string]*event
	resets     map[string]string // order ID → product
	idemKeys   map[string]string // Idempotency-Key → the path it was first used on
	// j is the SQLite journal (nil: memory only); written under mu.
	j *journal

	// ctx ends when the Sim closes; review timers and deliveries run
	// under it and are counted by wg.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	// slots holds one token per callback attempt in flight
	// (Config.MaxDeliveries).
	slots chan struct{}
}

// certificate is what the CA knows of one certificate.
type certificate struct {
	id       string
	accepted map[string]bool // actions accepted so far
	removed  bool
	rev      *revocation
}

// revocation is one certificate's revocation review (at most one: a
// revocation cannot be undone, SSL-9).
type revocation struct {
	reviewID    string
	reason      string
	requestedAt time.Time
	status      string // statusPending, statusApproved, statusRejected
	eventID     string
	result      string // the decision's reason
	decidedAt   time.Time
	// parked: the review came due under RevocationNever and waits for a
	// behaviour change.
	parked bool
}

// event is a review result as sent to the callback URL; body is sent
// byte-identical on every retry and resend.
type event struct {
	id   string
	cert string
	body []byte
}

// The review statuses of the protocol.
const (
	statusPending  = "pending"
	statusApproved = "approved"
	statusRejected = "rejected"
)

// New checks cfg and returns a Sim.
func New(cfg Config) (*Sim, error) {
	if cfg.Token == "" {
		return nil, errors.New("casim: a bearer token is required")
	}
	var callbacks []string
	if cfg.CallbackURL != "" {
		callbacks = strings.Split(cfg.CallbackURL, ",")
		for _, c := range callbacks {
			u, err := url.Parse(c)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("casim: callback URL %q is not an absolute http(s) URL", c)
			}
		}
		if len(cfg.WebhookSecret) == 0 {
			return nil, errors.New("casim: a webhook secret is required with a callback URL")
		}
	}
	if cfg.ReviewDelay < 0 {
		return nil, errors.New("casim: negative review delay")
	}
	for id, b := range cfg.Behaviours {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("casim: certificate %s: %w", id, err)
		}
	}
	if cfg.Retry == (Retry{}) {
		cfg.Retry = DefaultRetry
	}
	if cfg.Retry.Initial <= 0 || cfg.Retry.Max < cfg.Retry.Initial || cfg.Retry.Attempts < 1 {
		return nil, fmt.Errorf("casim: invalid retry policy %+v", cfg.Retry)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.MaxDeliveries == 0 {
		cfg.MaxDeliveries = DefaultMaxDeliveries
	}
	if cfg.MaxDeliveries < 0 {
		return nil, fmt.Errorf("casim: MaxDeliveries %d is negative", cfg.MaxDeliveries)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: cfg.MaxDeliveries, IdleConnTimeout: 90 * time.Second}}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	s := &Sim{
		cfg:        cfg,
		callbacks:  callbacks,
		log:        cfg.Logger,
		slots:      make(chan struct{}, cfg.MaxDeliveries),
		certs:      map[string]*certificate{},
		behaviours: map[string]Behaviour{},
		events:     map[string]*event{},
		resets:     map[string]string{},
		idemKeys:   map[string]string{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var pending []*event
	if cfg.DBPath != "" {
		j, err := openJournal(cfg.DBPath)
		if err != nil {
			return nil, err
		}
		if pending, err = j.load(s); err != nil {
			j.close()
			return nil, fmt.Errorf("casim: loading %s: %w", cfg.DBPath, err)
		}
		s.j = j
	}
	for id, b := range cfg.Behaviours {
		s.behaviours[id] = b
		if err := s.journal(func(j *journal) error { return j.saveBehaviour(id, b) }); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.resume(pending)
	return s, nil
}

// resume schedules what a previous run left open: each pending review is
// decided ReviewDelay after it was requested (at once if that passed), and
// each callback still being delivered is delivered again.
func (s *Sim) resume(pending []*event) {
	now := s.cfg.Clock.Now()
	ids := make([]string, 0, len(s.certs))
	for id, c := range s.certs {
		if c.rev != nil && c.rev.status == statusPending && !c.rev.parked {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		due := s.certs[id].rev.requestedAt.Add(s.cfg.ReviewDelay)
		s.log.Info("resuming open revocation review", zap.String("certificate", id), zap.Time("due", due))
		s.scheduleReview(id, max(0, due.Sub(now)))
	}
	for _, ev := range pending {
		s.log.Info("resuming callback delivery", zap.String("event_id", ev.id), zap.String("certificate", ev.cert))
		s.goBackground(func(ctx context.Context) { s.deliver(ctx, ev) })
	}
}

// journal writes through to the SQLite file, if any. Callers hold mu (or
// run before the Sim serves).
func (s *Sim) journal(write func(*journal) error) error {
	if s.j == nil {
		return nil
	}
	if err := write(s.j); err != nil {
		s.log.Error("casim journal write failed", zap.Error(err))
		return fmt.Errorf("casim: journal write failed: %w", err)
	}
	return nil
}

// Serve serves the simulator on ln until ctx ends, then shuts down
// gracefully: requests in flight get up to 5 seconds, and the reviews and
// callback deliveries in flight are stopped (Close). It returns nil after
// a shutdown caused by ctx.
func (s *Sim) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("casim listening", zap.String("addr", ln.Addr().String()))

	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
		<-served
	}
	s.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close stops the review timers and callback deliveries in flight and
// waits for them. It is safe to call more than once.
func (s *Sim) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		if s.j != nil {
			if err := s.j.close(); err != nil {
				s.log.Warn("closing the casim journal", zap.Error(err))
			}
		}
	})
}

// goBackground runs f under the Sim's lifetime.
func (s *Sim) goBackground(f func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

// certLocked returns the certificate id, creating it on first mention.
func (s *Sim) certLocked(id string) *certificate {
	c, ok := s.certs[id]
	if !ok {
		c = &certificate{id: id, accepted: map[string]bool{}}
		s.certs[id] = c
	}
	return c
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
