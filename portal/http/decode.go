package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// decodeJSON reads the request body into v: JSON only, at most maxBody
// bytes, no unknown fields, one value. Every fault is a precise 4xx
// *requestError naming the field where it can.
func decodeJSON(w http.ResponseWriter, r *http.Request, maxBody int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &requestError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", detail: "send application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, maxBody)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err, maxBody)
		}
		return badRequest("malformed_json", "", "the body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error, maxBody int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return &requestError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", detail: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
	case errors.Is(err, io.EOF):
		return badRequest("malformed_json", "", "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed_json", "", "the body ends in the middle of a JSON value")
	case errors.As(err, &se):
		return badRequest("malformed_json", "", "invalid JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("wrong_type", "", "the body must be a JSON object, not %s", te.Value)
		}
		return badRequest("wrong_type", te.Field, "%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for it; the message is stable.
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("unknown_field", f, "unknown field %q", f)
	}
	return badRequest("malformed_json", "", "%s", err.Error())
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return k
}
