package portal

import _ "embed"

// OpenAPI is the portal API's OpenAPI 3.1 document (openapi.yaml), served
// as JSON at /v1/openapi.json.
//
//go:embed openapi.yaml
var OpenAPI []byte
