package web_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/merchd/merchd/checkout"
)

// TestFinding12_PagesFormatMinorUnits: the pages' money() formats an
// amount with the digits the API gives for its currency (the same
// checkout.CurrencyDigits), so the 3500-yen tee reads ¥3,500, not ¥35.
func TestFinding12_PagesFormatMinorUnits(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("needs node")
	}
	cases := []struct {
		amount   int64
		currency string
		want     string
	}{
		{3500, "JPY", "¥3,500"},
		{3500, "EUR", "€35.00"},
		{1250, "KWD", "KWD 1.250"},
	}
	var js strings.Builder
	js.WriteString(`import { money } from "./static/lib.js"; const out = [];`)
	for _, c := range cases {
		js.WriteString(`out.push(money({ amount: ` + strconv.FormatInt(c.amount, 10) + `, currency: "` + c.currency + `", currencyDigits: ` +
			strconv.Itoa(checkout.CurrencyDigits(c.currency)) + ` }));`)
	}
	js.WriteString(`console.log(out.join("\n"));`)
	cmd := exec.Command(node, "--input-type=module", "-e", js.String())
	cmd.Dir = "."
	cmd.Env = append(cmd.Environ(), "LANG=en_US.UTF-8", "LC_ALL=en_US.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, c := range cases {
		if i >= len(got) || strings.ReplaceAll(got[i], "\u00a0", " ") != c.want {
			t.Errorf("money(%d %s) = %q, want %q", c.amount, c.currency, got, c.want)
		}
	}
}
