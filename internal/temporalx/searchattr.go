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
	missing, added, err := missingSearchAttributes(ctx, c, namespace, specs)
	if err != nil {
		return nil, err
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	}); err != nil {
		return nil, fmt.Errorf("adding search attributes %v to %s: %w", added, namespace, err)
	}
	return added, nil
}

// CheckSearchAttributes fails, naming each one and how to register it,
// when a search attribute of specs is missing on namespace or registered
// with another type. A worker checks at start: without them every
// workflow's first search-attribute upsert fails its task, over and over.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string, specs []string) error {
	missing, names, err := missingSearchAttributes(ctx, c, namespace, specs)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	var list []string
	for _, n := range names {
		list = append(list, n+"="+typeName(missing[n]))
	}
	return fmt.Errorf("search attributes %s are not registered on namespace %s: register them with "+
		"`temporal operator search-attribute create --namespace %s --name NAME --type TYPE` "+
		"(Temporal Cloud: `tcld namespace search-attributes add`)", strings.Join(list, ", "), namespace, namespace)
}

// missingSearchAttributes lists the attributes of specs not registered on
// namespace, in specs' order; a type clash or a malformed spec is an error.
func missingSearchAttributes(ctx context.Context, c client.Client, namespace string, specs []string) (map[string]enumspb.IndexedValueType, []string, error) {
	want := map[string]enumspb.IndexedValueType{}
	order := make([]string, 0, len(specs))
	for _, s := range specs {
		name, typ, ok := strings.Cut(s, "=")
		t, known := searchAttributeTypes[typ]
		if !ok || name == "" || !known {
			return nil, nil, fmt.Errorf("search attribute %q is not Name=Type with a known type", s)
		}
		want[name] = t
		order = append(order, name)
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, nil, fmt.Errorf("listing search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var names []string
	for _, name := range order {
		t := want[name]
		got, ok := have.GetCustomAttributes()[name]
		if !ok {
			if _, dup := missing[name]; !dup {
				missing[name] = t
				names = append(names, name)
			}
			continue
		}
		if got != t {
			return nil, nil, fmt.Errorf("search attribute %s is registered on %s as %s, want %s", name, namespace, typeName(got), typeName(t))
		}
	}
	return missing, names, nil
}

// typeName is the CLI's name of t.
func typeName(t enumspb.IndexedValueType) string {
	for name, v := range searchAttributeTypes {
		if v == t {
			return name
		}
	}
	return t.String()
}

// RetypeSearchAttributes removes from namespace each custom search
// attribute of specs registered with another type than specs give it, so
// that EnsureSearchAttributes registers it anew, and returns their names.
// The values workflows set for it are lost: it is for a dev server's
// reused database (CertificateId and CertificateState became KeywordLists
// in issue 15), never for a shared cluster.
func RetypeSearchAttributes(ctx context.Context, c client.Client, namespace string, specs []string) ([]string, error) {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("listing search attributes of %s: %w", namespace, err)
	}
	var clash []string
	for _, s := range specs {
		name, typ, ok := strings.Cut(s, "=")
		t, known := searchAttributeTypes[typ]
		if !ok || name == "" || !known {
			return nil, fmt.Errorf("search attribute %q is not Name=Type with a known type", s)
		}
		if got, ok := have.GetCustomAttributes()[name]; ok && got != t {
			clash = append(clash, name)
		}
	}
	if len(clash) == 0 {
		return nil, nil
	}
	if _, err := c.OperatorService().RemoveSearchAttributes(ctx, &operatorservice.RemoveSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: clash,
	}); err != nil {
		return nil, fmt.Errorf("removing search attributes %v of another type from %s: %w", clash, namespace, err)
	}
	return clash, nil
}
