package policy

import (
	"encoding/json"
	"github.com/certflow/certflow/errs/errstest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
)

// TestShippedProfiles checks the parameters each profile transcribes from
// its seed.
func TestShippedProfiles(t *testing.T) {
	r := registry(t)
	if got := r.Names(); !slices.Equal(got, []string{"aliyun-cn", "aliyun-intl", "tencent"}) {
		t.Fatalf("Names() = %v", got)
	}
	intl, cn, tc := profile(t, "aliyun-intl"), profile(t, "aliyun-cn"), profile(t, "tencent")
	checks := map[string]bool{
		"GEN-1 intl window 7 days":             intl.Window.Days == 7 && intl.Window.Rule == RuleGEN1,
		"SSL-2 intl late review rule":          intl.Window.LateReviewRule == RuleSSL2,
		"VAS-1 cn window 7 days without VAS":   cn.Window.Days == 7 && cn.Window.Rule == RuleVAS1,
		"VAS-1 cn window 30 days with VAS":     cn.ValueAddedWindow.Days == 30 && cn.ValueAddedWindow.Rule == RuleVAS1,
		"VAS-3 VAS-4 cn late review rules":     cn.Window.LateReviewRule == RuleVAS3 && cn.ValueAddedWindow.LateReviewRule == RuleVAS4,
		"TC no window in tencent":              tc.Window == nil,
		"T-3 review 5 business days":           intl.ReviewBusinessDays == 5 && cn.ReviewBusinessDays == 5,
		"SSL-7 quota 28 days from issuance":    intl.Quota.Days == 28 && intl.Quota.Basis == QuotaFromIssuance,
		"VAS-3 quota 30 days from payment":     cn.Quota.Days == 30 && cn.Quota.Basis == QuotaFromPayment,
		"CAN-1 aliyun cancels before commit":   intl.Cancel.Policy == CancelBeforeIrreversible && cn.Cancel.Policy == CancelBeforeIrreversible,
		"CAN-2 tencent never cancels":          tc.Cancel.Policy == CancelNever,
		"GEN-4 aliyun refunds original method": intl.Refund.Destination == domain.OriginalMethod && intl.Refund.Rule == RuleGEN4,
		"TC-6 tencent refunds account balance": tc.Refund.Destination == domain.AccountBalance && tc.Refund.GiftCard && tc.Refund.BenefitPoints,
		"T-2 calendars weekends / cn-mainland": intl.Calendar == "weekends" && cn.Calendar == "cn-mainland" && tc.Calendar == "cn-mainland",
		"T-2 time zone Asia/Shanghai":          intl.Timezone == "Asia/Shanghai" && cn.Timezone == "Asia/Shanghai" && tc.Timezone == "Asia/Shanghai",
		"GW-1 intl sells all seven products":   len(intl.Products) == 7,
		"VAS-1 cn and tencent sell SSL only":   slices.Equal(cn.Products, []domain.Product{domain.SSLCertificate}) && slices.Equal(tc.Products, []domain.Product{domain.SSLCertificate}),
	}
	for name, ok := range checks {
		t.Run(name, func(t *testing.T) {
			if !ok {
				t.Fatal("profile parameter differs from the seed")
			}
		})
	}
}

// TestResolve covers resolution by paid date with two versions.
func TestResolve(t *testing.T) {
	v2 := strings.Replace(strings.Replace(shippedFile(t, "aliyun-intl.json"),
		`"version": "2024.1"`, `"version": "2026.6"`, 1),
		`"effective_from": "2020-01-01T00:00:00+08:00"`, `"effective_from": "2026-06-01T00:00:00+08:00"`, 1)
	v2 = strings.Replace(v2, `"days": 7`, `"days": 14`, 1)
	r, err := LoadRegistryFS(fstest.MapFS{"aliyun-intl-2026.6.json": {Data: []byte(v2)}})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		paid    string
		version string
		days    int
	}{
		"one second before v2 takes effect": {"2026-05-31T23:59:59+08:00", "2024.1", 7},
		"exactly when v2 takes effect":      {"2026-06-01T00:00:00+08:00", "2026.6", 14},
		"long after v2":                     {"2027-01-01T00:00:00+08:00", "2026.6", 14},
		"the first version's first instant": {"2020-01-01T00:00:00+08:00", "2024.1", 7},
		"same instant in another zone":      {"2026-05-31T16:00:00Z", "2026.6", 14},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := r.Resolve("aliyun-intl", at(t, tc.paid))
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != tc.version || p.Window.Days != tc.days || p.ID() != "aliyun-intl@"+tc.version {
				t.Fatalf("resolved %s with %d days, want %s with %d", p.ID(), p.Window.Days, tc.version, tc.days)
			}
		})
	}
	if got := r.Versions("aliyun-intl"); len(got) != 2 || got[0].Version != "2024.1" {
		t.Fatalf("Versions = %v", got)
	}
	t.Run("unknown profile is not found", func(t *testing.T) {
		_, err := r.Resolve("aws", at(t, paidAt))
		errstest.Want(t, err, errs.NotFound, `"aws"`)
	})
	t.Run("paid before every version is not found", func(t *testing.T) {
		_, err := r.Resolve("tencent", at(t, "2019-12-31T23:59:59+08:00"))
		errstest.Want(t, err, errs.NotFound, "no version in force at 2019-12-31T23:59:59+08:00")
	})
	t.Run("a resolved profile is a copy", func(t *testing.T) {
		p, _ := r.Resolve("aliyun-intl", at(t, paidAt))
		p.Products[0], p.Window.Days = "x", 99
		q, _ := r.Resolve("aliyun-intl", at(t, paidAt))
		if q.Products[0] != domain.SSLCertificate || q.Window.Days != 7 {
			t.Fatal("the registry's profile was changed through a resolved copy")
		}
	})
}

// TestProfileRoundTrip checks that a profile survives JSON (workflow
// history, activity results) unchanged.
func TestProfileRoundTrip(t *testing.T) {
	for _, name := range registry(t).Names() {
		p := profile(t, name)
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var q Profile
		if err := json.Unmarshal(data, &q); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(data) || !q.EffectiveFrom.Equal(p.EffectiveFrom) || !reflect.DeepEqual(q.Products, p.Products) {
			t.Fatalf("%s changed in JSON:\n%s\n%s", name, data, again)
		}
		if _, err := ParseProfile(name, data); err != nil {
			t.Fatalf("%s: marshalled profile does not parse: %v", name, err)
		}
	}
}

// TestBrokenProfiles checks that a broken file is an errs.Invalid error
// naming the file and the field.
func TestBrokenProfiles(t *testing.T) {
	good := shippedFile(t, "aliyun-intl.json")
	tests := map[string]struct {
		data string
		want string
	}{
		"malformed JSON":          {`{"name": `, "broken.json: malformed"},
		"unknown field":           {strings.Replace(good, `"timezone"`, `"time_zone"`, 1), `broken.json: malformed profile: unknown field "time_zone"`},
		"wrong type":              {strings.Replace(good, `"days": 7`, `"days": "7"`, 1), "broken.json: field window.days"},
		"bad effective_from":      {strings.Replace(good, `2020-01-01T00:00:00+08:00`, `2020-01-01`, 1), "broken.json: field effective_from"},
		"missing name":            {strings.Replace(good, `"name": "aliyun-intl"`, `"name": ""`, 1), "broken.json: field name: missing"},
		"unknown time zone":       {strings.Replace(good, `Asia/Shanghai`, `Mars/Olympus`, 1), "broken.json: field timezone"},
		"unknown calendar":        {strings.Replace(good, `"weekends"`, `"martian"`, 1), "broken.json: field calendar"},
		"unknown product":         {strings.Replace(good, `"private_ca"`, `"toaster"`, 1), "broken.json: field products[2]"},
		"zero window":             {strings.Replace(good, `"days": 7`, `"days": 0`, 1), "broken.json: field window.days"},
		"unknown rule":            {strings.Replace(good, `"GEN-1"`, `"GEN-9"`, 1), `broken.json: field window.rule: unknown rule "GEN-9"`},
		"unknown quota basis":     {strings.Replace(good, `"issuance"`, `"moon"`, 1), "broken.json: field quota.basis"},
		"unknown cancel policy":   {strings.Replace(good, `"before_irreversible"`, `"sometimes"`, 1), "broken.json: field cancel.policy"},
		"unknown destination":     {strings.Replace(good, `"original_method"`, `"pocket"`, 1), "broken.json: field refund.destination"},
		"revokes without a bound": {strings.Replace(good, `"review_business_days": 5,`, ``, 1), "broken.json: field review_business_days"},
		"inferred unknown rule":   {strings.Replace(good, `"combined_rule": "SSL-3",`, `"combined_rule": "SSL-3", "inferred": {"SSL-99": "from elsewhere"},`, 1), `broken.json: field inferred: unknown rule "SSL-99"`},
		"inferred without why":    {strings.Replace(good, `"combined_rule": "SSL-3",`, `"combined_rule": "SSL-3", "inferred": {"SSL-3": " "},`, 1), "broken.json: field inferred: rule SSL-3: say where it was inferred from and why"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := LoadRegistryFS(fstest.MapFS{"broken.json": {Data: []byte(tc.data)}})
			errstest.Want(t, err, errs.Invalid, tc.want)
		})
	}
	t.Run("same version twice", func(t *testing.T) {
		_, err := LoadRegistryFS(fstest.MapFS{"copy.json": {Data: []byte(good)}})
		errstest.Want(t, err, errs.Invalid, "copy.json: field version: aliyun-intl@2024.1 already loaded from embedded:aliyun-intl.json")
	})
	t.Run("two versions effective at the same instant", func(t *testing.T) {
		_, err := LoadRegistryFS(fstest.MapFS{"v2.json": {Data: []byte(strings.Replace(good, `"2024.1"`, `"2024.2"`, 1))}})
		errstest.Want(t, err, errs.Invalid, "v2.json: field effective_from")
	})
}

// SSL-3 applies to aliyun-cn by inference (the cn page is a subset of the
// same vendor's terms and does not mention combined certificates), and the
// profile says so.
func TestAliyunCNSaysSSL3IsInferred(t *testing.T) {
	reg, err := LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Resolve("aliyun-cn", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.CombinedRule != "SSL-3" || !strings.HasPrefix(p.Inferred["SSL-3"], "inferred: ") {
		t.Errorf("aliyun-cn combined_rule %q, inferred %q; want SSL-3 marked inferred", p.CombinedRule, p.Inferred)
	}
}

// TestLoadRegistryDir loads an operator's extra profile from a directory.
func TestLoadRegistryDir(t *testing.T) {
	dir := t.TempDir()
	extra := strings.NewReplacer(`"name": "tencent"`, `"name": "tencent-intl"`).Replace(shippedFile(t, "tencent.json"))
	if err := os.WriteFile(filepath.Join(dir, "tencent-intl.json"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRegistryDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"aliyun-cn", "aliyun-intl", "tencent", "tencent-intl"}) {
		t.Fatalf("Names() = %v", got)
	}
	if _, err := r.Resolve("tencent-intl", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRegistryDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory loaded")
	}
}

func shippedFile(t *testing.T, name string) string {
	t.Helper()
	data, err := shipped.ReadFile("profiles/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
