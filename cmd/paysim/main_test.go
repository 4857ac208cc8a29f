package main

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	m, err := parse([]string{"-settle-delay", "250ms"}, env(map[string]string{
		"PAYSIM_TOKEN": "tok", "PAYSIM_DB": "/tmp/paysim.db", "PAYSIM_FAIL_ORIGINAL_METHOD": " o-1, ,o-2 "}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Token != "tok" || m.DB != "/tmp/paysim.db" || m.SettleDelay != 250*time.Millisecond || strings.Join(m.Fail, ",") != "o-1,o-2" || m.Addr != "127.0.0.1:8082" {
		t.Fatalf("parsed %+v", m)
	}
	refusals := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"no token":       {nil, map[string]string{"PAYSIM_DB": "x.db"}, "PAYSIM_TOKEN"},
		"no database":    {nil, map[string]string{"PAYSIM_TOKEN": "tok"}, "PAYSIM_DB"},
		"negative delay": {[]string{"-settle-delay", "-1s"}, map[string]string{"PAYSIM_TOKEN": "tok", "PAYSIM_DB": "x.db"}, "negative"},
		"bad env delay":  {nil, map[string]string{"PAYSIM_TOKEN": "tok", "PAYSIM_DB": "x.db", "PAYSIM_SETTLE_DELAY": "soon"}, "PAYSIM_SETTLE_DELAY"},
		"stray argument": {[]string{"extra"}, map[string]string{"PAYSIM_TOKEN": "tok", "PAYSIM_DB": "x.db"}, "unexpected arguments"},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			if _, err := parse(tc.args, env(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}
