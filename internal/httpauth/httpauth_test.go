package httpauth

import (
	"net/http/httptest"
	"testing"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer tok", "tok", true},
		{"bearer tok", "tok", true}, // the scheme is case-insensitive
		{"BEARER  tok", "tok", true},
		{"Bearer tok2", "tok", false},
		{"Bearer tok", "", false}, // no token configured: nothing passes
		{"Bearer ", "", false},
		{"Basic dG9rOg==", "tok", false},
		{"tok", "tok", false},
		{"", "tok", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := Bearer(r, tc.want); got != tc.ok {
			t.Errorf("Bearer(%q, %q) = %v, want %v", tc.header, tc.want, got, tc.ok)
		}
	}
}
