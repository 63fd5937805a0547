package plots

import (
	"strings"
	"unicode"
)

// maxFileNameLen bounds the length in bytes of names returned by FileName,
// leaving room for a suffix and an extension within common file-system
// limits.
const maxFileNameLen = 100

// greek maps lower-case Greek letters (and a few look-alikes) to their
// English names.
var greek = map[rune]string{
	'α': "alpha", 'β': "beta", 'γ': "gamma", 'δ': "delta", 'ε': "epsilon",
	'ϵ': "epsilon", 'ζ': "zeta", 'η': "eta", 'θ': "theta", 'ϑ': "theta",
	'ι': "iota", 'κ': "kappa", 'λ': "lambda", 'μ': "mu", 'µ': "mu",
	'ν': "nu", 'ξ': "xi", 'ο': "omicron", 'π': "pi", 'ρ': "rho",
	'σ': "sigma", 'ς': "sigma", 'τ': "tau", 'υ': "upsilon", 'φ': "phi",
	'ϕ': "phi", 'χ': "chi", 'ψ': "psi", 'ω': "omega",
}

// scripts maps superscript and subscript digits and signs to ASCII.
var scripts = map[rune]rune{
	'⁰': '0', '¹': '1', '²': '2', '³': '3', '⁴': '4',
	'⁵': '5', '⁶': '6', '⁷': '7', '⁸': '8', '⁹': '9',
	'₀': '0', '₁': '1', '₂': '2', '₃': '3', '₄': '4',
	'₅': '5', '₆': '6', '₇': '7', '₈': '8', '₉': '9',
	'⁻': '-', '₋': '-',
}

// FileName returns an ASCII name derived from a parameter name that is safe
// to use as (part of) a file name on common file systems.
//
// Greek letters are spelled out ("σ" → "sigma", "Σ" → "Sigma"), superscript
// and subscript digits become plain digits ("²" → "2"), ASCII letters,
// digits, '-' and '.' are kept, and every other run of characters (spaces,
// brackets, commas, slashes, …) becomes a single '_'. Leading and trailing
// '_', '-' and '.' are removed, so the result never names "." or ".." and
// never looks like a command-line flag. The result is at most 100 bytes;
// an empty result becomes "param". For example
//
//	FileName("log σ²")      == "log_sigma2"
//	FileName("beta[1,2]")   == "beta_1_2"
//	FileName("../etc/pass") == "etc_pass"
//
// Distinct names may map to the same file name (e.g. "a b" and "a_b");
// callers writing many files should make names unique themselves.
func FileName(name string) string {
	var b strings.Builder
	pendingSep := false
	emit := func(s string) {
		if pendingSep && b.Len() > 0 {
			b.WriteByte('_')
		}
		pendingSep = false
		b.WriteString(s)
	}
	for _, r := range name {
		switch {
		case r < unicode.MaxASCII && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.'):
			emit(string(r))
		case greek[r] != "":
			emit(greek[r])
		case greek[unicode.ToLower(r)] != "" && unicode.IsUpper(r):
			s := greek[unicode.ToLower(r)]
			emit(strings.ToUpper(s[:1]) + s[1:])
		case scripts[r] != 0:
			emit(string(scripts[r]))
		default:
			pendingSep = true
		}
	}
	s := b.String()
	if len(s) > maxFileNameLen {
		s = s[:maxFileNameLen]
	}
	s = strings.Trim(s, "_-.")
	if s == "" {
		return "param"
	}
	return s
}
