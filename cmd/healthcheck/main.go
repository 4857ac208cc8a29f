// Command healthcheck is the health probe of certflow's images: it GETs
// each URL given and exits 0 when every one answers 200 within the
// timeout, 1 otherwise. The images are distroless (no shell, no curl), so
// compose's and Kubernetes' exec probes run this instead:
//
//	healthcheck http://127.0.0.1:8080/readyz
//
// A gateway serving HTTPS (CERTFLOW_TLS_CERT_FILE) is checked with the CA
// bundle its certificate verifies against, for the name it was issued to:
//
//	healthcheck -ca-file /etc/certflow/tls/ca.pem https://gateway.certflow.internal:8080/readyz
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/certflow/certflow/internal/tlsfiles"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "time allowed for each request")
	caFile := flag.String("ca-file", "", "PEM bundle verifying an https URL's certificate; empty: the system's roots")
	flag.Parse()
	client, err := newClient(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(2)
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck [-timeout 3s] [-ca-file ca.pem] URL...")
		os.Exit(2)
	}
	for _, url := range flag.Args() {
		if err := check(client, url, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "healthcheck:", err)
			os.Exit(1)
		}
	}
}

// newClient is the probe's client: certificates verified against the
// bundle of caFile, or the system's roots; never skipped.
func newClient(caFile string) (*http.Client, error) {
	cfg, err := tlsfiles.ClientConfig(caFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return &http.Client{Transport: t}, nil
}

func check(client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
