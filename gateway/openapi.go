package gateway

import (
	_ "embed" // the OpenAPI document ships inside the binary
	"net/http"
)

// openAPIDoc is the API's OpenAPI 3.1 document. The checked-in source is
// api/openapi.yaml; gateway/openapi.yaml is its copy, because go:embed
// cannot reach a parent directory. TestOpenAPICopyIsCurrent fails when the
// two differ; `go generate ./gateway/` refreshes the copy.
//
//go:generate cp ../api/openapi.yaml openapi.yaml
//go:embed openapi.yaml
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPIDoc) // the client went away; nothing left to tell it
}
