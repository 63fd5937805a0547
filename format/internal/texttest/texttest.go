// Package texttest holds helpers for the tests of the format readers.
package texttest

import "strings"

// Mark removes the marker ∑ from src and returns the result with the 1-based line and
// byte column where the marker stood: the position a reader's error should name. It
// panics if src has no marker.
func Mark(src string) (string, int, int) {
	i := strings.Index(src, "∑")
	if i < 0 {
		panic("texttest: no marker")
	}
	before := src[:i]
	return before + src[i+len("∑"):], 1 + strings.Count(before, "\n"), i - strings.LastIndexByte(before, '\n')
}
