package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

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
		// The gateway answers every error with an RFC 9457 problem whose
		// extensions carry the code and the rules.
		var p struct {
			Code   string   `json:"code"`
			Detail string   `json:"detail"`
			Rules  []string `json:"rules"`
		}
		if json.Unmarshal(b, &p) == nil && p.Code != "" {
			rules := ""
			if len(p.Rules) > 0 {
				rules = " [" + strings.Join(p.Rules, ", ") + "]"
			}
			return fmt.Errorf("%s %s: %d %s: %s%s", method, path, resp.StatusCode, p.Code, p.Detail, rules)
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

// orderPath is the console API path of an order.
func orderPath(id string) string { return "/v1/orders/" + url.PathEscape(id) }

// customerChoices are the customer's answers the refund rules ask for.
type customerChoices struct {
	Consent              bool `help:"The customer consents to the refund policy (TC-5)."`
	ConfirmIrreversible  bool `help:"The customer confirms revoke/reset (SSL-9)."`
	AcceptLateReviewRisk bool `help:"The customer accepts a review ending after the window (SSL-9)."`
}

type importCmd struct {
	File string `short:"f" required:"" help:"The order JSON: the scenario format's order object, or a scenario file." placeholder:"order.json"`
}

func (cmd *importCmd) Run(ctx context.Context, c *console) error {
	o, err := readOrder(cmd.File)
	if err != nil {
		return err
	}
	return c.do(ctx, "PUT", orderPath(o.ID), o.raw)
}

type eligibilityCmd struct {
	Order string `required:"" help:"The order ID." placeholder:"ID"`
	customerChoices
}

func (cmd *eligibilityCmd) Run(ctx context.Context, c *console) error {
	q := url.Values{}
	q.Set("consent", strconv.FormatBool(cmd.Consent))
	q.Set("confirm_irreversible", strconv.FormatBool(cmd.ConfirmIrreversible))
	q.Set("accept_late_review_risk", strconv.FormatBool(cmd.AcceptLateReviewRisk))
	return c.do(ctx, "GET", orderPath(cmd.Order)+"/refund-eligibility?"+q.Encode(), nil)
}

type refundCmd struct {
	Order string `required:"" help:"The order ID." placeholder:"ID"`
	customerChoices
}

func (cmd *refundCmd) Run(ctx context.Context, c *console) error {
	return c.do(ctx, "POST", orderPath(cmd.Order)+"/refund", map[string]any{"consent": cmd.Consent,
		"confirm_irreversible": cmd.ConfirmIrreversible, "accept_late_review_risk": cmd.AcceptLateReviewRisk})
}

type statusCmd struct {
	Order string `required:"" help:"The order ID." placeholder:"ID"`
}

func (cmd *statusCmd) Run(ctx context.Context, c *console) error {
	return c.do(ctx, "GET", orderPath(cmd.Order)+"/refund", nil)
}

type approveCmd struct {
	Order string `required:"" help:"The order ID." placeholder:"ID"`
	Note  string `help:"A note for the audit trail."`
}

func (cmd *approveCmd) Run(ctx context.Context, c *console) error {
	return c.do(ctx, "POST", orderPath(cmd.Order)+"/refund/approve", map[string]any{"note": cmd.Note})
}

type cancelCmd struct {
	Order  string `required:"" help:"The order ID." placeholder:"ID"`
	Reason string `help:"Why the refund is cancelled."`
}

func (cmd *cancelCmd) Run(ctx context.Context, c *console) error {
	return c.do(ctx, "POST", orderPath(cmd.Order)+"/refund/cancel", map[string]any{"reason": cmd.Reason})
}

// ordersCmd lists orders with the filters of GET /v1/orders. The gateway
// checks the values and answers 400 naming the parameter and what it
// allows; an unset flag sends no parameter.
type ordersCmd struct {
	State     string `aliases:"refund-state" help:"Refund state (refund_state): an order state such as awaiting_approval or refunded, or none." placeholder:"STATE"`
	Product   string `help:"Product (product), e.g. ssl_certificate." placeholder:"PRODUCT"`
	WaitingOn string `help:"What the refund waits on (waiting_on): ca_review, customer, operator_approval, payment_provider, ca_credentials or ca_unreachable." placeholder:"KIND"`
	Escalated *bool  `help:"Only escalated refunds (escalated=true); --escalated=false for only the others."`
	Outcome   string `help:"Refund outcome (outcome): pending, awaiting_approval, refunded, rejected or cancelled." placeholder:"OUTCOME"`
	Limit     int    `default:"50" help:"Page size (limit)."`
	Cursor    string `help:"The next_cursor of the previous page (cursor)." placeholder:"CURSOR"`
}

// Validate refuses a page size the gateway would refuse, before calling it.
func (cmd *ordersCmd) Validate() error {
	if cmd.Limit < 1 {
		return fmt.Errorf("--limit must be at least 1, got %d", cmd.Limit)
	}
	return nil
}

func (cmd *ordersCmd) Run(ctx context.Context, c *console) error {
	return c.do(ctx, "GET", "/v1/orders?"+cmd.query().Encode(), nil)
}

// query is the list's query string.
func (cmd *ordersCmd) query() url.Values {
	q := url.Values{}
	for param, v := range map[string]string{"refund_state": cmd.State, "product": cmd.Product,
		"waiting_on": cmd.WaitingOn, "outcome": cmd.Outcome, "cursor": cmd.Cursor} {
		if v != "" {
			q.Set(param, v)
		}
	}
	if cmd.Escalated != nil {
		q.Set("escalated", strconv.FormatBool(*cmd.Escalated))
	}
	q.Set("limit", strconv.Itoa(cmd.Limit))
	return q
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
