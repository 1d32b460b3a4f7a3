// Package fold is x/mod's zip collision folding of one rune (strToFold): the smallest rune
// of its simple-folding orbit, with A-Z taken as a-z.
package fold

import "unicode"

// Rune folds r.
func Rune(r rune) rune {
	for {
		r0 := r
		r = unicode.SimpleFold(r0)
		if r <= r0 {
			break
		}
	}
	if 'A' <= r && r <= 'Z' {
		r += 'a' - 'A'
	}
	return r
}
