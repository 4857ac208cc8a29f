package api

// Array is s, or an empty slice for nil: the API's required lists are
// arrays, never null.
func Array[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
