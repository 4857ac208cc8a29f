package ops

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
)

//go:embed templates/*.html
var templateFS embed.FS

// staticFS holds static/ops.css and static/ops.js, served under
// /ops/static/.
//
//go:embed static
var staticFS embed.FS

// pages are the parsed templates, one set per page with the layout.
type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"dash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"login", "queue", "order", "message"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ops: parsing template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// render writes page name with data; it renders into a buffer first so a
// template error becomes a 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var b bytes.Buffer
	if err := h.pages.byName[name].ExecuteTemplate(&b, "layout", data); err != nil {
		h.log.Error("ops page failed", zap.String("page", name), zap.String("path", r.URL.Path), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

type messageData struct {
	Session *session
	Title   string
	Message string
}

// refuse shows a short page saying why nothing was done.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var s *session
	if x, ok := h.lookup(r, false); ok {
		s = &x
	}
	h.render(w, r, status, "message", messageData{Session: s, Title: fmt.Sprintf("%d %s", status, strings.ToLower(http.StatusText(status))), Message: msg})
}

// fail shows an error readably: its code, rules and client-safe message;
// an internal error is logged with its cause and shown as "internal error".
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.logFailure(r, err)
	h.refuse(w, r, statusFor(err), refusal(err))
}

func (h *Handler) logFailure(r *http.Request, err error) {
	fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err)}
	switch c := errs.CodeOf(err); {
	case c == errs.Internal:
		h.log.Error("ops request failed", fields...)
	case statusFor(err) >= 500:
		h.log.Warn("ops request failed", fields...)
	default:
		h.log.Debug("ops request refused", fields...)
	}
}


// statusFor is the status the console API answers err with
// (errs.Code.HTTPStatus).
func statusFor(err error) int { return errs.CodeOf(err).HTTPStatus() }

// refusal says an error in one line: "403 forbidden — GW-4: alice
// requested the refund and cannot also approve it".
func refusal(err error) string {
	code, msg := errs.CodeOf(err), errs.MessageOf(err)
	if code == errs.Internal || !code.Known() {
		code, msg = errs.Internal, "internal error"
	}
	s := fmt.Sprintf("%d %s — ", statusFor(err), strings.ReplaceAll(string(code), "_", " "))
	if rules := errs.RulesOf(err); len(rules) > 0 && code != errs.Internal && !citesRules(msg, rules) {
		s += strings.Join(rules, ", ") + ": "
	}
	return s + msg
}

// citesRules reports whether msg already begins with the rules, as the
// workflows' refusals do ("GW-4: demo-operator requested this refund…"):
// the page then does not cite them twice.
func citesRules(msg string, rules []string) bool {
	return strings.HasPrefix(msg, strings.Join(rules, ", ")+":")
}
