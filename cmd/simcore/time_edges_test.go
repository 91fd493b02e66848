package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
)

// TestUsageToAloneTakesThe30DaysBeforeIt: `simcore usage ICCID --to D`
// without --from answers the 30 days that end with D (as the portal's
// from defaults to 30 days before to), not an error because the default
// from (29 days before today) lies after an earlier --to.
func TestUsageToAloneTakesThe30DaysBeforeIt(t *testing.T) {
	env := reviewEnv(t)
	ctx := testenv.Context(t, 2*time.Minute)
	if _, errOut, err := runCLI(ctx, env, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	out, errOut, err := runCLI(ctx, env, "usage", "8944100000000000075", "--to", "2024-02-29", "--json")
	if err != nil {
		t.Fatalf("usage --to 2024-02-29: %v\n%s", err, errOut)
	}
	var got struct{ From, To time.Time }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("usage output %q: %v", out, err)
	}
	wantTo := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	if !got.To.Equal(wantTo) || !got.From.Equal(wantTo.AddDate(0, 0, -30)) {
		t.Errorf("range %s to %s, want %s to %s", got.From, got.To, wantTo.AddDate(0, 0, -30), wantTo)
	}
}
