// Package api holds the console API's wire types: the request and
// response bodies of api/openapi.yaml, generated from that document by
// oapi-codegen (api.gen.go; `go generate ./api/`), so the document is
// their one source. TestGeneratedTypesAreCurrent fails when api.gen.go
// is not what the document and oapi-codegen.yaml generate.
//
// The stored records (ports) are never wire types: the gateway maps them
// to these explicitly. The schemas the document binds with x-go-type are
// the rules layer's value types (domain.Order, policy.Decision,
// domain.Wait, statemachine.OrderState, ...), shown as they are. The
// package imports only the rules layer: no Temporal, no database.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o api.gen.go openapi.yaml
