package hlr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/simcore/simcore/provisioning"
)

// Request bodies. Pointer fields tell a missing or null member from a zero
// one: a change must say every value it sets, so that a partial body cannot
// quietly clear a barring or disable voicemail.
type (
	createRequest struct {
		MSISDN *string `json:"msisdn"`
		IMSI   *string `json:"imsi"`
		ICCID  *string `json:"iccid"`
	}
	simRequest struct {
		IMSI  *string `json:"imsi"`
		ICCID *string `json:"iccid"`
	}
	voicemailRequest struct {
		Enabled  *bool   `json:"enabled"`
		Language *string `json:"language"` // may be missing or "" when disabled
	}
	forwardingRequest struct {
		Number *string `json:"number"`
	}
	barringRequest struct {
		All      *bool `json:"all"`
		Data     *bool `json:"data"`
		Outgoing *bool `json:"outgoing"`
	}
)

// body is a request body as read before the latency: reading it to the end
// lets net/http notice a caller that leaves during the latency.
type body struct {
	data []byte
	err  error
}

func readAll(w http.ResponseWriter, r *http.Request) body {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	return body{data, err}
}

// decodeBody decodes a JSON request body into dst, or returns the problem
// to answer.
func decodeBody(r *http.Request, b body, dst any) *response {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentTypeJSON {
		p := problemResponse(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "send Content-Type: application/json")
		return &p
	}
	if err := b.err; err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			p := problemResponse(http.StatusRequestEntityTooLarge, codeBodyTooLarge, fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes))
			return &p
		}
		p := problemResponse(http.StatusBadRequest, codeMalformedJSON, "the body could not be read")
		return &p
	}
	if err := decodeJSON(b.data, dst); err != nil {
		p := problemResponse(http.StatusBadRequest, codeMalformedJSON, err.Error())
		return &p
	}
	return nil
}

// decodeJSON decodes exactly one JSON object with only the members dst
// knows, and nothing after it. Its errors are fit to show a caller: they
// name JSON members and kinds, not Go types.
func decodeJSON(data []byte, dst any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("the body is empty; want a JSON object")
	}
	if trimmed[0] != '{' {
		return errors.New("the body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return exactMembers(data, dst)
}

// exactMembers refuses a member whose name matches one of dst's only in
// another letter case: encoding/json takes {"Number":...} for "number",
// and the documented names are exact (docs/network.md).
func exactMembers(data []byte, dst any) error {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return describeJSONError(err)
	}
	for m := range members {
		if !names[m] {
			return fmt.Errorf("unknown member %q (member names are exact)", m)
		}
	}
	return nil
}

func describeJSONError(err error) error {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("invalid JSON at byte %d: %s", e.Offset, e.Error())
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return fmt.Errorf("want a JSON object, got %s", e.Value)
		}
		return fmt.Errorf("member %q: want %s, got %s", e.Field, jsonKind(e.Type), e.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the JSON object is cut short")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return errors.New("unknown member " + strings.TrimPrefix(msg, "unknown field "))
	}
	return errors.New(msg)
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// Value rules; docs/network.md states them.

func invalid(code, detail string) *response {
	p := problemResponse(http.StatusUnprocessableEntity, code, detail)
	return &p
}

func missing(member string) *response {
	return invalid(codeMissingField, member+" is required")
}

func checkMSISDN(s string) *response {
	if !e164(s) {
		return invalid(codeInvalidMSISDN, "msisdn must be an E.164 number: 1 to 15 digits, no '+', not starting with 0")
	}
	return nil
}

func checkIMSI(s string) *response {
	if !digitsBetween(s, 14, 15) {
		return invalid(codeInvalidIMSI, "imsi must be 14 or 15 digits")
	}
	return nil
}

func checkICCID(s string) *response {
	if !digitsBetween(s, 18, 20) || !luhnValid(s) {
		return invalid(codeInvalidICCID, "iccid must be 18 to 20 digits ending in a Luhn check digit")
	}
	return nil
}

func checkNumber(s string) *response {
	if !e164(s) {
		return invalid(codeInvalidNumber, "number must be an E.164 number: 1 to 15 digits, no '+', not starting with 0")
	}
	return nil
}

func checkCondition(s string) *response {
	for _, k := range provisioning.ForwardingKinds {
		if s == string(k) {
			return nil
		}
	}
	return invalid(codeInvalidCondition, "condition must be one of unconditional, busy, no_reply, not_reachable")
}

// checkLanguage accepts an ISO 639 code, optionally with an ISO 3166 region:
// "en", "he", "pt-BR".
func checkLanguage(s string) *response {
	lang, region, hasRegion := strings.Cut(s, "-")
	ok := len(lang) >= 2 && len(lang) <= 3 && allIn(lang, 'a', 'z')
	if hasRegion {
		ok = ok && len(region) == 2 && allIn(region, 'A', 'Z')
	}
	if !ok {
		return invalid(codeInvalidLanguage, `language must be an ISO 639 code, optionally with a region: "en", "he", "pt-BR"`)
	}
	return nil
}

func e164(s string) bool { return digitsBetween(s, 1, 15) && s[0] != '0' }

func digitsBetween(s string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && allIn(s, '0', '9')
}

func allIn(s string, lo, hi byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > hi {
			return false
		}
	}
	return true
}

// luhnValid reports whether the last digit of digits is the Luhn check
// digit of the others (ITU-T E.118 for ICCIDs).
func luhnValid(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(digits) > 0 && sum%10 == 0
}

// validKey reports whether an Idempotency-Key is 1 to 255 visible ASCII
// characters.
func validKey(k string) bool {
	return len(k) >= 1 && len(k) <= maxIdempotencyKeyBytes && allIn(k, 0x21, 0x7e)
}
