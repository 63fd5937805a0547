package plots

import (
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mu", "mu"},
		{"log σ²", "log_sigma2"},
		{"σ", "sigma"},
		{"Σ_12", "Sigma_12"},
		{"τ⁻²", "tau-2"},
		{"θ₁", "theta1"},
		{"beta[1,2]", "beta_1_2"},
		{"a  /  b", "a_b"},
		{"../etc/passwd", "etc_passwd"},
		{"..", "param"},
		{"", "param"},
		{"???", "param"},
		{"-flag", "flag"},
		{"x.y-z", "x.y-z"},
		{"naïve", "na_ve"},
		{"µ", "mu"},
	} {
		if got := FileName(tc.in); got != tc.want {
			t.Errorf("FileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := FileName(strings.Repeat("σ", 100))
	if len(long) > 100 || !strings.HasPrefix(long, "sigma") {
		t.Errorf("FileName of long name = %q (%d bytes), want ≤ 100 bytes", long, len(long))
	}
	for _, in := range []string{"log σ²", "a/b\\c:d*e?f\"g<h>i|j", "\x00\n\t", "日本"} {
		got := FileName(in)
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.", r)) {
				t.Errorf("FileName(%q) = %q contains unsafe %q", in, got, r)
			}
		}
	}
}
