package ops

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Failed logins per client address: a burst of loginBurst, then one
// more every loginEvery. A refused token costs the gateway a check (and,
// for an unknown key ID, a read of the identity provider's keys), so an
// address that keeps failing is told to wait before its next token is
// looked at. A successful login costs nothing.
const (
	loginBurst = 10
	loginEvery = 6 * time.Second
	// loginAddrs bounds the limiter's memory: past it, addresses whose
	// allowance is whole again are forgotten.
	loginAddrs = 10000
)

type loginLimiter struct {
	mu    sync.Mutex
	now   func() time.Time
	spent map[string]*loginBucket
}

type loginBucket struct {
	failures float64
	at       time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, spent: map[string]*loginBucket{}}
}

// wait returns how long addr must wait before its next login is checked
// (zero: now).
func (l *loginLimiter) wait(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(addr)
	if b == nil || b.failures < loginBurst {
		return 0
	}
	return time.Duration((b.failures - loginBurst + 1) * float64(loginEvery))
}

// failed counts a refused login of addr.
func (l *loginLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(addr)
	if b == nil {
		if len(l.spent) >= loginAddrs {
			l.prune()
		}
		b = &loginBucket{at: l.now()}
		l.spent[addr] = b
	}
	b.failures++
}

// refill forgives the failures that loginEvery has paid back since addr's
// last one; the caller holds mu.
func (l *loginLimiter) refill(addr string) *loginBucket {
	b := l.spent[addr]
	if b == nil {
		return nil
	}
	now := l.now()
	if el := now.Sub(b.at); el > 0 {
		b.failures = max(0, b.failures-float64(el)/float64(loginEvery))
		b.at = now
	}
	return b
}

func (l *loginLimiter) prune() {
	for addr := range l.spent {
		if l.refill(addr).failures == 0 {
			delete(l.spent, addr)
		}
	}
}

// remoteAddr is r's client IP, without the port.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
