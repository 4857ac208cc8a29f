package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/certflow/certflow/errs"
)

// console talks to the gateway's console API, as the console backend does.
type console struct {
	base  string
	token string // never printed
	http  *http.Client
	out   io.Writer
}

// Environment of the console commands.
const (
	// EnvGateway is the gateway's base URL.
	EnvGateway = "CERTFLOW_GATEWAY"
	// EnvToken is the console API token the commands send (a console
	// token, or an operator's for approve and orders).
	EnvToken = "CERTFLOW_TOKEN"
)

func newConsoleFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := os.Getenv(EnvGateway)
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	gw := fs.String("gateway", def, "gateway base URL (env "+EnvGateway+")")
	return fs, gw
}

func (c *console) do(ctx context.Context, method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return errs.E(errs.Invalid, "gateway URL %q: %v", c.base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("gateway unreachable at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct {
				Code    string   `json:"code"`
				Message string   `json:"message"`
				Rules   []string `json:"rules"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			rules := ""
			if len(e.Error.Rules) > 0 {
				rules = " [" + strings.Join(e.Error.Rules, ", ") + "]"
			}
			return fmt.Errorf("%s %s: %d %s: %s%s", method, path, resp.StatusCode, e.Error.Code, e.Error.Message, rules)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		b = pretty.Bytes()
	}
	_, err = fmt.Fprintln(c.out, string(b))
	return err
}

// consoleCommand runs one of the console subcommands.
func consoleCommand(ctx context.Context, name string, args []string, stdout io.Writer, getenv func(string) string) error {
	fs, gw := newConsoleFlags(name)
	order := fs.String("order", "", "order ID")
	reason := fs.String("reason", "", "reason (cancel)")
	note := fs.String("note", "", "note (approve)")
	file := fs.String("f", "", "import: the order JSON (the scenario format's order object, or a scenario file)")
	consent := fs.Bool("consent", false, "the customer consents to the refund policy (TC-5)")
	confirm := fs.Bool("confirm-irreversible", false, "the customer confirms revoke/reset (SSL-9)")
	late := fs.Bool("accept-late-review-risk", false, "the customer accepts a review ending after the window (SSL-9)")
	state := fs.String("state", "", "list: refund state filter (e.g. refunded, awaiting_approval, none)")
	product := fs.String("product", "", "list: product filter")
	limit := fs.Int("limit", 50, "list: page size")
	if err := fs.Parse(args); err != nil {
		return errs.E(errs.Invalid, "%s: %v", name, err)
	}
	token := strings.TrimSpace(getenv(EnvToken))
	if token == "" {
		return errs.E(errs.Invalid, "%s: set %s to a console API token (make run writes demo tokens to .run/endpoints.json)", name, EnvToken)
	}
	c := &console{base: *gw, token: token, http: &http.Client{Timeout: 30 * time.Second}, out: stdout}
	needOrder := func() error {
		if *order == "" {
			return errs.E(errs.Invalid, "%s: -order is required", name)
		}
		return nil
	}
	path := "/v1/orders/" + url.PathEscape(*order)
	switch name {
	case "eligibility":
		if err := needOrder(); err != nil {
			return err
		}
		q := url.Values{}
		q.Set("consent", fmt.Sprint(*consent))
		q.Set("confirm_irreversible", fmt.Sprint(*confirm))
		q.Set("accept_late_review_risk", fmt.Sprint(*late))
		return c.do(ctx, "GET", path+"/refund-eligibility?"+q.Encode(), nil)
	case "refund":
		if err := needOrder(); err != nil {
			return err
		}
		return c.do(ctx, "POST", path+"/refund", map[string]any{"consent": *consent, "confirm_irreversible": *confirm,
			"accept_late_review_risk": *late})
	case "status":
		if err := needOrder(); err != nil {
			return err
		}
		return c.do(ctx, "GET", path+"/refund", nil)
	case "approve":
		if err := needOrder(); err != nil {
			return err
		}
		return c.do(ctx, "POST", path+"/refund/approve", map[string]any{"note": *note})
	case "cancel":
		if err := needOrder(); err != nil {
			return err
		}
		return c.do(ctx, "POST", path+"/refund/cancel", map[string]any{"reason": *reason})
	case "import":
		o, err := readOrder(*file)
		if err != nil {
			return err
		}
		return c.do(ctx, "PUT", "/v1/orders/"+url.PathEscape(o.ID), o.raw)
	case "orders":
		q := url.Values{}
		if *state != "" {
			q.Set("refund_state", *state)
		}
		if *product != "" {
			q.Set("product", *product)
		}
		q.Set("limit", fmt.Sprint(*limit))
		return c.do(ctx, "GET", "/v1/orders?"+q.Encode(), nil)
	}
	return fmt.Errorf("unknown command %q", name)
}

// importedOrder is an order file's order: its ID and its JSON as written.
type importedOrder struct {
	ID  string
	raw json.RawMessage
}

// readOrder reads an order file for import: the scenario format's order
// object, or a whole scenario (its order, with the scenario's profile when
// the order names none). The gateway validates it.
func readOrder(path string) (importedOrder, error) {
	if path == "" {
		return importedOrder{}, errs.E(errs.Invalid, "import: -f order.json is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return importedOrder{}, errs.Wrap(errs.Invalid, err, "import: cannot read %s", path)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return importedOrder{}, errs.E(errs.Invalid, "import: %s is not a JSON object: %v", path, err)
	}
	if inner, ok := probe["order"]; ok {
		var order map[string]json.RawMessage
		if err := json.Unmarshal(inner, &order); err != nil {
			return importedOrder{}, errs.E(errs.Invalid, "import: %s: order is not a JSON object", path)
		}
		if _, named := order["profile"]; !named && probe["profile"] != nil {
			order["profile"] = probe["profile"]
		}
		probe = order
		if b, err = json.Marshal(order); err != nil {
			return importedOrder{}, err
		}
	}
	var id string
	if err := json.Unmarshal(probe["id"], &id); err != nil || id == "" {
		return importedOrder{}, errs.E(errs.Invalid, "import: %s: the order has no id", path)
	}
	return importedOrder{ID: id, raw: b}, nil
}
