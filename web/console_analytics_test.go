package web_test

import (
	"context"
	"testing"

	"github.com/merchd/merchd/checkout/analytics/analyticstest"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestConsoleAnalyticsInChromium: staff open /admin/analytics on the
// seeded shop (analyticstest.Seed, figures worked out by hand), choose its
// period, and see the hand-computed revenue in a tile, the revenue chart
// drawn as SVG, and the CSV download with the same figures; at desktop and
// tablet size. A clerk's session is refused the report.
func TestConsoleAnalyticsInChromium(t *testing.T) {
	c := newConsole(t, graphtest.Options{})
	if _, err := analyticstest.Seed(context.Background(), c.E.Client); err != nil {
		t.Fatal(err)
	}
	c.Config["analytics"] = map[string]any{
		"from": analyticstest.From.Format("2006-01-02"),
		// The picker's last day is inclusive; the seeded period ends at To.
		"to": analyticstest.To.AddDate(0, 0, -1).Format("2006-01-02"),
	}
	c.run(t, "console-analytics.mjs", 12)
}
