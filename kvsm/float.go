package kvsm

import (
	"bytes"
	"math/big"
)

// INCRBYFLOAT and HINCRBYFLOAT compute as Redis does, in C's long double
// (x87 80-bit extended precision on amd64: a 64-bit mantissa), so that
// replies and stored values match redis-server's to the last digit. Go has
// no long double; math/big.Float with 64 bits of precision and
// round-to-nearest-even performs the same additions, and formatting with
// 17 decimals then trimming reproduces ld2string's "%.17Lf" (LD_STR_HUMAN).

// longDoublePrec is the mantissa width of an x87 long double.
const longDoublePrec = 64

// Exponent limits of an x87 long double (big.Float's MantExp convention,
// mantissa in [0.5, 1)): beyond them strtold reports ERANGE, which Redis
// refuses.
const (
	longDoubleExpMax = 16384
	longDoubleExpMin = -16444 // smallest subnormal
)

// floatTextBytesMax bounds what is parsed: the longest long double written
// in plain decimal is under 5 KiB (Redis's MAX_LONG_DOUBLE_CHARS).
const floatTextBytesMax = 5 << 10

// parseLongDouble parses like Redis's string2ld: strtold syntax (decimal,
// hex with or without a 'p' exponent, inf/infinity), no spaces, no NaN,
// nothing out of long double's range.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) > floatTextBytesMax {
		return nil, false
	}
	if b[0] == ' ' || b[0] == '\t' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t' {
		return nil, false
	}
	body := b
	neg := false
	if body[0] == '-' || body[0] == '+' {
		neg = body[0] == '-'
		body = body[1:]
	}
	if eqFold(body, "inf") || eqFold(body, "infinity") {
		return new(big.Float).SetInf(neg), true
	}
	base := 10
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		base = 0 // big reads the 0x prefix and a hex mantissa
	}
	for _, ch := range body {
		// Go's syntax also has '_' separators and (base 0) 0b/0o
		// prefixes; strtold has neither. "nan" is refused here too.
		if ch == '_' || ch == 'n' || ch == 'N' || (base == 10 && (ch == 'x' || ch == 'X' || ch == 'p' || ch == 'P')) {
			return nil, false
		}
	}
	if base == 0 && bytes.ContainsAny(body[2:], "oObB") && !isHexDigits(body[2:]) {
		return nil, false
	}
	f, _, err := big.ParseFloat(unsafeString(b), base, longDoublePrec, big.ToNearestEven)
	if err != nil || !inLongDoubleRange(f) {
		return nil, false
	}
	return f, true
}

// isHexDigits reports whether b is a hex mantissa with an optional
// fraction and 'p' exponent (so that 'b' is a digit, not a prefix).
func isHexDigits(b []byte) bool {
	for _, ch := range b {
		switch {
		case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'f', 'A' <= ch && ch <= 'F', ch == '.', ch == 'p', ch == 'P', ch == '-', ch == '+':
		default:
			return false
		}
	}
	return true
}

// inLongDoubleRange reports whether f is finite-or-infinite within what a
// long double holds: no overflow, and no nonzero value that would
// underflow to zero.
func inLongDoubleRange(f *big.Float) bool {
	if f.IsInf() || f.Sign() == 0 {
		return true
	}
	exp := f.MantExp(nil)
	return exp <= longDoubleExpMax && exp >= longDoubleExpMin
}

// addLongDouble returns a+b rounded to a long double; false when the sum
// is NaN (inf - inf) or infinite, which Redis refuses.
func addLongDouble(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	sum := new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven).Add(a, b)
	if sum.IsInf() || !inLongDoubleRange(sum) {
		return nil, false
	}
	return sum, true
}

// formatLongDouble appends f as ld2string with LD_STR_HUMAN: "%.17Lf",
// trailing zeros and a trailing '.' removed, "-0" written "0".
func formatLongDouble(dst []byte, f *big.Float) []byte {
	start := len(dst)
	dst = f.Append(dst, 'f', 17)
	if bytes.IndexByte(dst[start:], '.') >= 0 {
		dst = bytes.TrimRight(dst, "0")
		dst = bytes.TrimSuffix(dst, []byte("."))
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}
