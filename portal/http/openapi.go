package http

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/simcore/simcore/portal"
)

// OpenAPIJSON returns portal/openapi.yaml as JSON.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(portal.OpenAPI, &doc); err != nil {
		return nil, fmt.Errorf("portal openapi.yaml: %w", err)
	}
	b, err := json.Marshal(jsonable(doc))
	if err != nil {
		return nil, fmt.Errorf("portal openapi.yaml as JSON: %w", err)
	}
	return b, nil
}

// jsonable turns YAML's map[any]any (from non-string keys such as status
// codes) into map[string]any.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	}
	return v
}
