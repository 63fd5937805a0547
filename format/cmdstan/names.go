package cmdstan

import (
	"fmt"
	"strconv"
	"strings"
)

// Names returns the column names of the elements of a Stan variable with the given
// dimensions, in CmdStan's order: the name alone for a scalar (no dimensions),
// otherwise the name followed by the 1-based indices joined with '.', with the
// first index varying fastest (column-major), as in
//
//	Names("sigma")        → sigma
//	Names("theta", 3)     → theta.1, theta.2, theta.3
//	Names("Sigma", 2, 2)  → Sigma.1.1, Sigma.2.1, Sigma.1.2, Sigma.2.2
//
// cmdstanpy reshapes a variable's columns in this order and rstan and posterior
// rebuild its dimensions from the indices. A zero dimension gives no names. Names
// panics if a dimension is negative.
func Names(name string, dims ...int) []string {
	return AppendNames(nil, name, dims...)
}

// AppendNames appends Names(name, dims...) to dst and returns the extended slice.
func AppendNames(dst []string, name string, dims ...int) []string {
	n := 1
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("cmdstan: negative dimension %d of %s", d, name))
		}
		n *= d
	}
	idx := make([]int, len(dims))
	for i := range idx {
		idx[i] = 1
	}
	var b strings.Builder
	for range n {
		b.Reset()
		b.WriteString(name)
		for _, k := range idx {
			b.WriteByte('.')
			b.WriteString(strconv.Itoa(k))
		}
		dst = append(dst, b.String())
		for j := range idx { // first index fastest
			if idx[j] < dims[j] {
				idx[j]++
				break
			}
			idx[j] = 1
		}
	}
	return dst
}

// SplitName splits a column name into the variable name and its 1-based indices,
// as in "Sigma.1.2" → "Sigma", [1 2]. It reports false if an element after the
// first '.' is not a positive decimal integer without leading zeros.
func SplitName(col string) (name string, index []int, ok bool) {
	name, rest, found := strings.Cut(col, ".")
	if !found {
		return col, nil, true
	}
	for _, f := range strings.Split(rest, ".") {
		k, err := strconv.Atoi(f)
		if err != nil || k < 1 || f[0] == '0' || f[0] == '+' {
			return name, nil, false
		}
		index = append(index, k)
	}
	return name, index, true
}

// CheckNames reports whether names are parameter column names that every reader
// understands, returning an error wrapping ErrColumn for the first that is not.
// Each variable name must be a Stan identifier (a letter followed by letters,
// digits and '_') not ending in "__", which marks sampler columns; the elements of
// one variable must be contiguous, with as many indices each, and enumerate its
// whole index grid in the order of Names.
func CheckNames(names []string) error {
	done := make(map[string]bool)
	for i := 0; i < len(names); {
		name, idx, ok := SplitName(names[i])
		switch {
		case !ok:
			return errorf(ErrColumn, "cmdstan: column %q: indices must be positive integers after '.'", names[i])
		case !isIdent(name) || name[0] == '_':
			return errorf(ErrColumn, "cmdstan: column %q: %q is not a Stan identifier", names[i], name)
		case strings.HasSuffix(name, "__"):
			return errorf(ErrColumn, "cmdstan: column %q: names ending in \"__\" are sampler columns", names[i])
		case done[name]:
			return errorf(ErrColumn, "cmdstan: column %q: the elements of %s are not contiguous", names[i], name)
		}
		done[name] = true
		// The group of columns of this variable, and its dimensions.
		j := i + 1
		dims := append([]int(nil), idx...)
		for ; j < len(names); j++ {
			n, ix, ok := SplitName(names[j])
			if n != name {
				break
			}
			if !ok || len(ix) != len(idx) {
				return errorf(ErrColumn, "cmdstan: column %q: %s has elements with different numbers of indices", names[j], name)
			}
			for k, v := range ix {
				dims[k] = max(dims[k], v)
			}
		}
		want := Names(name, dims...)
		if len(want) != j-i {
			return errorf(ErrColumn, "cmdstan: columns of %s: %d names for dimensions %v", name, j-i, dims)
		}
		for k, w := range want {
			if names[i+k] != w {
				return errorf(ErrColumn, "cmdstan: column %q: want %q in column-major order", names[i+k], w)
			}
		}
		i = j
	}
	return nil
}
