// Command webui-shot takes the README's screenshot of the Temporal Web UI:
// the refunds list of a running `make run` (its Web UI address read from
// -dir/endpoints.json), in headless Chromium, saved as docs/webui-refunds.png.
//
//	go run ./cmd/webui-shot            # or scripts/webui-screenshot
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
)

// refundsQuery is the list the screenshot shows: every refund.
const refundsQuery = `WorkflowType = "RefundWorkflow"`

func main() {
	dir := flag.String("dir", ".run", "the dev runner's state directory (endpoints.json)")
	out := flag.String("out", filepath.Join("docs", "webui-refunds.png"), "where to write the PNG")
	chromium := flag.String("chromium", "/usr/bin/chromium", "the Chromium binary")
	width := flag.Int("width", 1700, "window width in pixels (the Web UI hides columns below about 1600)")
	wait := flag.Duration("wait", 4*time.Second, "how long to let the list load before the shot")
	flag.Parse()
	if err := run(*dir, *out, *chromium, *width, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "webui-shot:", err)
		os.Exit(1)
	}
}

func run(dir, out, chromium string, width int, wait time.Duration) error {
	b, err := os.ReadFile(filepath.Join(dir, "endpoints.json"))
	if err != nil {
		return fmt.Errorf("reading the endpoints of a running make run: %w", err)
	}
	var ep struct {
		WebUI string `json:"web_ui"`
	}
	if err := json.Unmarshal(b, &ep); err != nil || ep.WebUI == "" {
		return fmt.Errorf("%s names no web_ui (%v)", filepath.Join(dir, "endpoints.json"), err)
	}
	page := ep.WebUI + "/namespaces/default/workflows?query=" + url.QueryEscape(refundsQuery)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(width, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first action starts the browser: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		return fmt.Errorf("starting Chromium %s: %w", chromium, err)
	}
	tctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(tctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("table"))); err != nil {
		return fmt.Errorf("opening %s: %w", page, err)
	}
	// The list fills in after the table shows.
	time.Sleep(wait)
	png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("shooting %s: %w", page, err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes) from %s\n", out, len(png), page)
	return nil
}
