package text

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseDecimal(t *testing.T) {
	for s, want := range map[string]float64{
		"2": 2, "-0.5": -0.5, ".5": 0.5, "5.": 5, "+4.53E-7": 4.53e-7, "1e-400": 0,
		"1.7976931348623157e308": math.MaxFloat64, "0005": 5,
	} {
		x, err := ParseDecimal(s)
		assert.NoError(t, err, s)
		assert.Equal(t, want, x, s)
	}
	for s, want := range map[string]error{
		"": ErrSyntax, ".": ErrSyntax, "e5": ErrSyntax, "1e": ErrSyntax, "1e+": ErrSyntax,
		"0x1p-2": ErrSyntax, "1_000": ErrSyntax, "1,5": ErrSyntax, " 1": ErrSyntax, "--1": ErrSyntax,
		"nan": ErrNaN, "-NaN": ErrNaN, "inf": ErrInfinite, "-Infinity": ErrInfinite,
		"1e309": ErrRange, "-1e309": ErrRange,
	} {
		_, err := ParseDecimal(s)
		assert.ErrorIs(t, err, want, "%q", s)
	}
}

func TestQuote(t *testing.T) {
	assert.Equal(t, "'Canis lupus'", Quote("Canis lupus"))
	assert.Equal(t, `"O'Brien"`, Quote("O'Brien"))
	assert.Equal(t, `"a\nb"`, Quote("a\nb"))
	assert.Equal(t, `"\xff"`, Quote("\xff"))
	assert.NoError(t, CheckName("Lynx rufus é"))
	assert.EqualError(t, CheckName("a\tb"), "control character")
	assert.EqualError(t, CheckName("\xff"), "invalid UTF-8")
}
