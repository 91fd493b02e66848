package metering

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestEmptySeriesIsPrinted: an answer by day over a range without
// usage has an empty, non-nil series (the portal sets one explicitly); its
// JSON must carry "series":[] rather than drop the key.
func TestEmptySeriesIsPrinted(t *testing.T) {
	u := Usage{ICCID: "8944100000000000075", From: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC),
		To: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), Series: []Bucket{}}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"series":[]`) {
		t.Fatalf("JSON of a usage with an empty series: %s; want \"series\":[]", b)
	}
}
