package hlr_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/simcore/simcore/netsim/hlr"
)

// TestMemberNamesAreExact: docs/network.md, conventions: request
// bodies have "member names spelled as below. An unknown member ... is
// 400 malformed_json". A member spelled in other capitals ("ALL",
// "Number", "IMSI") is not a documented member; it must be refused and
// change nothing, not be taken for the member of that name.
func TestMemberNamesAreExact(t *testing.T) {
	t.Parallel()
	sim, base := newServer(t, hlr.Config{})
	create(t, base, 1)
	for _, tt := range []struct{ method, path, body string }{
		{"PUT", "/v1/subscribers/" + msisdn(1) + "/barring", `{"ALL":true,"Data":true}`},
		{"PUT", "/v1/subscribers/" + msisdn(1) + "/forwarding/busy", `{"Number":"447700900123"}`},
		{"PUT", "/v1/subscribers/" + msisdn(1) + "/sim", fmt.Sprintf(`{"IMSI":%q,"ICCID":%q}`, imsi(2), iccid(2))},
		{"POST", "/v1/subscribers", fmt.Sprintf(`{"MSISDN":%q,"Imsi":%q,"iccId":%q}`, msisdn(3), imsi(3), iccid(3))},
	} {
		before := sim.Subscribers()
		r := send(t, base, request{method: tt.method, path: tt.path, body: tt.body})
		if r.status != http.StatusBadRequest || r.problem.Code != "malformed_json" {
			t.Errorf("%s %s %s: %d %s, want 400 malformed_json (unknown member)", tt.method, tt.path, tt.body, r.status, r.body)
		}
		if d := diffSubs(before, sim.Subscribers()); d != "" {
			t.Errorf("%s %s %s changed the HLR:\n%s", tt.method, tt.path, tt.body, d)
		}
	}
}
