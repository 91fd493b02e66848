package hlr_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/simcore/simcore/netsim/hlr"
)

// TestHandlerRejects sends requests that must be refused and checks each is
// answered with the precise 4xx and problem code, never a 500, and changes
// nothing.
func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	sim, base := newServer(t, hlr.Config{})
	create(t, base, 1)
	before := sim.Subscribers()
	sub := "/v1/subscribers/" + msisdn(1)
	okSIM := fmt.Sprintf(`{"imsi":%q,"iccid":%q}`, imsi(2), iccid(2))

	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   string
		wantHeader map[string]string
	}{
		{"unknown prefix", request{method: "GET", path: "/v2/subscribers/" + msisdn(1)}, 404, "not_found", nil},
		{"root", request{method: "GET", path: "/"}, 404, "not_found", nil},
		{"trailing slash", request{method: "GET", path: "/v1/subscribers/"}, 404, "not_found", nil},
		{"collection with suffix", request{method: "GET", path: "/v1/subscribersx"}, 404, "not_found", nil},
		{"unknown sub-resource", request{method: "PUT", path: sub + "/apn", body: `{}`}, 404, "not_found", nil},
		{"forwarding without condition", request{method: "PUT", path: sub + "/forwarding", body: `{}`}, 404, "not_found", nil},
		{"too deep", request{method: "GET", path: sub + "/forwarding/busy/x"}, 404, "not_found", nil},
		{"empty segment", request{method: "GET", path: "/v1/subscribers//sim"}, 404, "not_found", nil},
		{"dot segments are not cleaned", request{method: "GET", path: "/v1/subscribers/../subscribers/" + msisdn(1)}, 404, "not_found", nil},
		{"wrong method on collection", request{method: "GET", path: "/v1/subscribers"}, 405, "method_not_allowed", map[string]string{"Allow": "POST"}},
		{"wrong method on subscriber", request{method: "PATCH", path: sub, body: `{}`}, 405, "method_not_allowed", map[string]string{"Allow": "GET, DELETE"}},
		{"wrong method on sim", request{method: "POST", path: sub + "/sim", body: okSIM}, 405, "method_not_allowed", map[string]string{"Allow": "PUT"}},
		{"wrong method on forwarding", request{method: "GET", path: sub + "/forwarding/busy"}, 405, "method_not_allowed", map[string]string{"Allow": "PUT, DELETE"}},
		{"no token", request{method: "GET", path: sub, auth: "-"}, 401, "unauthorized", map[string]string{"WWW-Authenticate": `Bearer realm="simcore-hlr"`}},
		{"wrong token", request{method: "GET", path: sub, auth: "Bearer nope"}, 401, "unauthorized", nil},
		{"basic auth", request{method: "GET", path: sub, auth: "Basic " + token}, 401, "unauthorized", nil},
		{"no token before routing", request{method: "GET", path: "/nowhere", auth: "-"}, 401, "unauthorized", nil},
		{"no idempotency key", request{method: "PUT", path: sub + "/sim", body: okSIM, key: "-"}, 400, "missing_idempotency_key", nil},
		{"idempotency key with a space", request{method: "PUT", path: sub + "/sim", body: okSIM, key: "a b"}, 400, "invalid_idempotency_key", nil},
		{"idempotency key too long", request{method: "PUT", path: sub + "/sim", body: okSIM, key: strings.Repeat("k", 256)}, 400, "invalid_idempotency_key", nil},
		{"delete without key", request{method: "DELETE", path: sub, key: "-"}, 400, "missing_idempotency_key", nil},
		{"no content type", request{method: "PUT", path: sub + "/sim", body: okSIM, ctype: "-"}, 415, "unsupported_media_type", nil},
		{"text body", request{method: "PUT", path: sub + "/sim", body: okSIM, ctype: "text/plain"}, 415, "unsupported_media_type", nil},
		{"bad content type", request{method: "PUT", path: sub + "/sim", body: okSIM, ctype: "application/json; ="}, 415, "unsupported_media_type", nil},
		{"empty body", request{method: "PUT", path: sub + "/barring", ctype: "application/json"}, 400, "malformed_json", nil},
		{"cut short", request{method: "PUT", path: sub + "/sim", body: `{"imsi":`}, 400, "malformed_json", nil},
		{"syntax error", request{method: "PUT", path: sub + "/sim", body: `{"imsi" "x"}`}, 400, "malformed_json", nil},
		{"array", request{method: "PUT", path: sub + "/barring", body: `[true,false]`}, 400, "malformed_json", nil},
		{"null body", request{method: "PUT", path: sub + "/barring", body: `null`}, 400, "malformed_json", nil},
		{"string body", request{method: "PUT", path: sub + "/barring", body: `"all"`}, 400, "malformed_json", nil},
		{"two objects", request{method: "PUT", path: sub + "/barring", body: `{"all":true,"data":true}{}`}, 400, "malformed_json", nil},
		{"unknown member", request{method: "PUT", path: sub + "/barring", body: `{"all":true,"data":true,"voice":true}`}, 400, "malformed_json", nil},
		{"bool as string", request{method: "PUT", path: sub + "/voicemail", body: `{"enabled":"yes","language":"en"}`}, 400, "malformed_json", nil},
		{"number as number", request{method: "PUT", path: sub + "/forwarding/busy", body: `{"number":447700900123}`}, 400, "malformed_json", nil},
		{"imsi as object", request{method: "POST", path: "/v1/subscribers", body: `{"msisdn":"447700900999","imsi":{},"iccid":"x"}`}, 400, "malformed_json", nil},
		{"not UTF-8", request{method: "PUT", path: sub + "/forwarding/busy", body: "{\"number\":\"\xff\"}"}, 422, "invalid_number", nil},
		{"body too large", request{method: "PUT", path: sub + "/forwarding/busy", body: `{"number":"` + strings.Repeat("1", 64<<10) + `"}`}, 413, "body_too_large", nil},
		{"missing member", request{method: "PUT", path: sub + "/barring", body: `{"all":true}`}, 422, "missing_field", nil},
		{"null member", request{method: "PUT", path: sub + "/barring", body: `{"all":true,"data":null}`}, 422, "missing_field", nil},
		{"barring without outgoing", request{method: "PUT", path: sub + "/barring", body: `{"all":false,"data":false}`}, 422, "missing_field", nil},
		{"barring without data", request{method: "PUT", path: sub + "/barring", body: `{"all":false,"outgoing":false}`}, 422, "missing_field", nil},
		{"barring outgoing null", request{method: "PUT", path: sub + "/barring", body: `{"all":false,"data":false,"outgoing":null}`}, 422, "missing_field", nil},
		{"barring outgoing as string", request{method: "PUT", path: sub + "/barring", body: `{"all":false,"data":false,"outgoing":"yes"}`}, 400, "malformed_json", nil},
		{"create without iccid", request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":"447700900999","imsi":%q}`, imsi(9))}, 422, "missing_field", nil},
		{"voicemail on without language", request{method: "PUT", path: sub + "/voicemail", body: `{"enabled":true}`}, 422, "missing_field", nil},
		{"voicemail bad language", request{method: "PUT", path: sub + "/voicemail", body: `{"enabled":true,"language":"english"}`}, 422, "invalid_language", nil},
		{"voicemail bad region", request{method: "PUT", path: sub + "/voicemail", body: `{"enabled":false,"language":"pt-br"}`}, 422, "invalid_language", nil},
		{"msisdn with plus", request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":"+447700900999","imsi":%q,"iccid":%q}`, imsi(9), iccid(9))}, 422, "invalid_msisdn", nil},
		{"msisdn too long", request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":"4477009009991234","imsi":%q,"iccid":%q}`, imsi(9), iccid(9))}, 422, "invalid_msisdn", nil},
		{"msisdn leading zero", request{method: "GET", path: "/v1/subscribers/07700900001"}, 422, "invalid_msisdn", nil},
		{"msisdn with an escaped slash", request{method: "GET", path: "/v1/subscribers/4477%2F00900001"}, 422, "invalid_msisdn", nil},
		{"imsi too short", request{method: "PUT", path: sub + "/sim", body: fmt.Sprintf(`{"imsi":"2341500","iccid":%q}`, iccid(2))}, 422, "invalid_imsi", nil},
		{"iccid bad Luhn", request{method: "PUT", path: sub + "/sim", body: fmt.Sprintf(`{"imsi":%q,"iccid":"8944100000000000020"}`, imsi(2))}, 422, "invalid_iccid", nil},
		{"iccid letters", request{method: "PUT", path: sub + "/sim", body: fmt.Sprintf(`{"imsi":%q,"iccid":"89441000000000000F"}`, imsi(2))}, 422, "invalid_iccid", nil},
		{"unknown condition", request{method: "PUT", path: sub + "/forwarding/always", body: `{"number":"447700900123"}`}, 422, "invalid_condition", nil},
		{"cancel unknown condition", request{method: "DELETE", path: sub + "/forwarding/Busy"}, 422, "invalid_condition", nil},
		{"forwarding number with plus", request{method: "PUT", path: sub + "/forwarding/busy", body: `{"number":"+447700900123"}`}, 422, "invalid_number", nil},
		{"forwarding number empty", request{method: "PUT", path: sub + "/forwarding/busy", body: `{"number":""}`}, 422, "invalid_number", nil},
		{"unknown subscriber", request{method: "GET", path: "/v1/subscribers/" + msisdn(99)}, 404, "subscriber_not_found", nil},
		{"swap unknown subscriber", request{method: "PUT", path: "/v1/subscribers/" + msisdn(99) + "/sim", body: okSIM}, 404, "subscriber_not_found", nil},
		{"create existing msisdn", request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(1), imsi(9), iccid(9))}, 409, "msisdn_exists", nil},
		{"create on a used imsi", request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(9), imsi(1), iccid(9))}, 409, "imsi_in_use", nil},
		{"create on a used iccid", request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(9), imsi(9), iccid(1))}, 409, "iccid_in_use", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := send(t, base, tt.req)
			if r.status != tt.wantStatus || r.problem.Code != tt.wantCode {
				t.Errorf("got %d %s (%s), want %d %s", r.status, r.problem.Code, r.problem.Detail, tt.wantStatus, tt.wantCode)
			}
			for k, v := range tt.wantHeader {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	t.Cleanup(func() {
		if diff := diffSubs(before, sim.Subscribers()); diff != "" {
			t.Errorf("refused requests changed the state (-before +after):\n%s", diff)
		}
	})
}
