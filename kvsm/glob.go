package kvsm

// globMatch reports whether s matches the Redis glob pattern (KEYS, SCAN
// MATCH): '*' any run, '?' any byte, '[abc]' '[^a-z]' classes, '\' escapes.
// It follows Redis's stringmatchlen, but backtracks only to the last '*'
// (the classic greedy algorithm), so it runs in O(len(pattern)*len(s)) and
// cannot be driven exponential by hostile patterns.
func globMatch(pattern, s []byte) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			if pattern[p] == '*' {
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			}
			if next, ok := matchOne(pattern, p, s[i]); ok {
				p = next
				i++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' swallow one more byte and retry from there.
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchOne matches the single pattern token at p (not '*') against ch and
// returns the index after the token.
func matchOne(pattern []byte, p int, ch byte) (int, bool) {
	switch pattern[p] {
	case '?':
		return p + 1, true
	case '\\':
		if p+1 < len(pattern) {
			return p + 2, pattern[p+1] == ch
		}
		return p + 1, ch == '\\'
	case '[':
		return matchClass(pattern, p+1, ch)
	}
	return p + 1, pattern[p] == ch
}

// matchClass matches a '[...]' class whose body starts at p. As in Redis, an
// unterminated class runs to the end of the pattern.
func matchClass(pattern []byte, p int, ch byte) (int, bool) {
	not := false
	if p < len(pattern) && pattern[p] == '^' {
		not = true
		p++
	}
	match := false
	for p < len(pattern) && pattern[p] != ']' {
		switch {
		case pattern[p] == '\\' && p+1 < len(pattern):
			p++
			if pattern[p] == ch {
				match = true
			}
		case p+2 < len(pattern) && pattern[p+1] == '-':
			lo, hi := pattern[p], pattern[p+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo <= ch && ch <= hi {
				match = true
			}
			p += 2
		default:
			if pattern[p] == ch {
				match = true
			}
		}
		p++
	}
	if p < len(pattern) {
		p++ // the closing ']'
	}
	return p, match != not
}

// hasGlob reports whether pattern has any special character, so that KEYS
// can look the key up instead of walking the keyspace.
func hasGlob(pattern []byte) bool {
	for _, ch := range pattern {
		switch ch {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}
