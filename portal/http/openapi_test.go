package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"gopkg.in/yaml.v3"

	"github.com/simcore/simcore/portal"
	phttp "github.com/simcore/simcore/portal/http"
)

// The document's validator, built once: every response a test receives is
// checked against portal/openapi.yaml (status, content type, body schema).
var (
	docOnce sync.Once
	docVal  validator.Validator
	docErr  error
	docMu   sync.Mutex // the validator's caches are not documented as safe for concurrent use
)

func openAPIValidator(t testing.TB) validator.Validator {
	t.Helper()
	docOnce.Do(func() {
		doc, err := libopenapi.NewDocument(portal.OpenAPI)
		if err != nil {
			docErr = err
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			docErr = errs[0]
			return
		}
		docVal = v
	})
	if docErr != nil {
		t.Fatalf("portal/openapi.yaml: %v", docErr)
	}
	return docVal
}

// checkAgainstOpenAPI fails the test when res (with body) does not match
// what the document says req's operation answers. Requests to paths the
// document does not have must have been answered 404 or 405.
func checkAgainstOpenAPI(t testing.TB, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	v := openAPIValidator(t)
	copyRes := *res
	copyRes.Body = io.NopCloser(bytes.NewReader(body))
	docMu.Lock()
	ok, errs := v.ValidateHttpResponse(req, &copyRes)
	docMu.Unlock()
	if ok {
		return
	}
	var msgs []string
	for _, e := range errs {
		if (e.ValidationType == "path" || e.ValidationSubType == "missingOperation") && (res.StatusCode == 404 || res.StatusCode == 405) {
			return // an unknown route, answered as such
		}
		m := e.ValidationType + "/" + e.ValidationSubType + ": " + e.Message + " " + e.Reason
		for _, se := range e.SchemaValidationErrors {
			m += "\n    " + se.FieldPath + ": " + se.Reason
		}
		msgs = append(msgs, m)
	}
	t.Errorf("%s %s answered %d %s, which portal/openapi.yaml does not allow:\n  %s", req.Method, req.URL.Path, res.StatusCode, body, strings.Join(msgs, "\n  "))
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	v := openAPIValidator(t)
	docMu.Lock()
	ok, errs := v.ValidateDocument()
	docMu.Unlock()
	if !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
}

// TestOpenAPICoversEveryRoute fails when the mux serves a route the
// document does not describe, or the document describes one the mux does
// not serve.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(portal.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" || m == "summary" || m == "description" {
				continue
			}
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	e := newEnv(t)
	served := e.api.Routes()
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is served but not in portal/openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("route %q is in portal/openapi.yaml but not served", r)
		}
	}
}

func TestOpenAPIServedAsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.anon().must(http.StatusOK, "GET", "/v1/openapi.json", nil)
	var got map[string]any
	r.decode(t, &got)
	want, err := phttp.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(r.body), want) {
		t.Fatal("served document differs from portal/openapi.yaml")
	}
	if got["openapi"] != "3.1.0" || got["paths"].(map[string]any)["/v1/sims/{iccid}"] == nil {
		t.Fatalf("document: openapi %v, paths %v", got["openapi"], got["paths"])
	}
	if _, err := json.Marshal(got); err != nil {
		t.Fatal(err)
	}
}
