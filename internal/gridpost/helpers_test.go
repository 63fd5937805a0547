package gridpost_test

import "math"

// nb05Obs are the 16 leaf observations of hyperiax notebook 05 as float32 bit patterns
// (leaves in left-to-right order).
var nb05Obs = [16]uint32{
	0xc04ed68f, 0xbfe35253, 0xc046c682, 0xbfe9b6ba, 0xbfbdd08b, 0x3f22767f, 0xbfd78a34, 0xbfcff16a,
	0xbf153d80, 0xbef31dcc, 0xbf89a4c9, 0x3e9ce360, 0xbece7142, 0xbf4db794, 0xbe586a84, 0x3f102819,
}

// nb05Data returns the notebook 05 observations converted to float64.
func nb05Data() []float64 {
	y := make([]float64, len(nb05Obs))
	for i, b := range nb05Obs {
		y[i] = float64(math.Float32frombits(b))
	}
	return y
}

// binaryTreeKernel returns the MRCA-depth kernel of the symmetric binary tree of the
// given depth with unit edges: K[i,j] is the depth of the most recent common ancestor of
// leaves i and j, leaves in left-to-right order.
func binaryTreeKernel(depth int) []float64 {
	m := 1 << depth
	k := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			// The MRCA of leaves i and j is at depth d if i and j agree on their first d
			// branch choices, i.e. on the leading d of their depth bits.
			d := depth
			for x := i ^ j; x != 0; x >>= 1 {
				d--
			}
			k[i*m+j] = float64(d)
		}
	}
	return k
}
