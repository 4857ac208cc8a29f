package outbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"

	"go.uber.org/zap"
)

// WatchSecrets re-reads the secrets file (Config.SecretsFile) when its
// content changes (checked every interval) or when reload receives, and
// gives the dispatcher the new secrets; a file that does not parse, or
// leaves an endpoint without a secret, is refused (logged) and the
// secrets in use are kept. It returns when ctx ends; without a secrets
// file it returns at once.
//
// Rotating an endpoint's secret without a restart:
//
//  1. write "name=whsec_NEW|whsec_OLD" in the file: every delivery is now
//     signed with both (one v1 signature each), so the receiver accepts
//     it whichever secret it holds;
//  2. switch the receiver to whsec_NEW;
//  3. write "name=whsec_NEW": the old secret is no longer used.
//
// Each step takes effect within interval, or at once on SIGHUP.
func (d *Dispatcher) WatchSecrets(ctx context.Context, interval time.Duration, reload <-chan os.Signal) {
	path := d.cfg.SecretsFile
	if path == "" {
		return
	}
	last := fileSum(path)
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-reload:
			forced = true
		case <-time.After(interval):
		}
		sum := fileSum(path)
		if !forced && bytes.Equal(sum, last) {
			continue
		}
		last = sum
		secrets, err := ReadSecretsFile(path)
		if err == nil {
			err = d.SetSecrets(secrets)
		}
		if err != nil {
			// The error names the endpoint and the position, never a value.
			d.log.Error("event secrets not reloaded; the ones in use are kept", zap.String("file", path), zap.Error(err))
			continue
		}
		n := 0
		for _, s := range secrets {
			n += len(s)
		}
		d.log.Info("event secrets reloaded", zap.String("file", path), zap.Int("endpoints", len(secrets)), zap.Int("secrets", n))
	}
}

// fileSum is a digest of the file's content (nil when unreadable): a
// change of content, not of its time, triggers a reload.
func fileSum(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := sha256.Sum256(b)
	return s[:]
}
