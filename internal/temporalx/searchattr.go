package temporalx

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

// searchAttributeTypes maps the names the CLI's --search-attribute takes to
// the server's types.
var searchAttributeTypes = map[string]enumspb.IndexedValueType{
	"Text":        enumspb.INDEXED_VALUE_TYPE_TEXT,
	"Keyword":     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"Int":         enumspb.INDEXED_VALUE_TYPE_INT,
	"Double":      enumspb.INDEXED_VALUE_TYPE_DOUBLE,
	"Bool":        enumspb.INDEXED_VALUE_TYPE_BOOL,
	"Datetime":    enumspb.INDEXED_VALUE_TYPE_DATETIME,
	"KeywordList": enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

// EnsureSearchAttributes registers on namespace each custom search
// attribute of specs ("Name=Type", as `temporal server start-dev
// --search-attribute` takes them) that is not registered yet, and returns
// the names it added. The dev server registers its --search-attribute
// flags only when it creates its database, so a reused database needs
// this. An attribute registered with another type is an error.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, specs []string) ([]string, error) {
	want := map[string]enumspb.IndexedValueType{}
	order := make([]string, 0, len(specs))
	for _, s := range specs {
		name, typ, ok := strings.Cut(s, "=")
		t, known := searchAttributeTypes[typ]
		if !ok || name == "" || !known {
			return nil, fmt.Errorf("search attribute %q is not Name=Type with a known type", s)
		}
		want[name] = t
		order = append(order, name)
	}
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("listing search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var added []string
	for _, name := range order {
		t := want[name]
		got, ok := have.GetCustomAttributes()[name]
		if !ok {
			if _, dup := missing[name]; !dup {
				missing[name] = t
				added = append(added, name)
			}
			continue
		}
		if got != t {
			return nil, fmt.Errorf("search attribute %s is registered as %s, want %s", name, got, t)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	}); err != nil {
		return nil, fmt.Errorf("adding search attributes %v to %s: %w", added, namespace, err)
	}
	return added, nil
}
