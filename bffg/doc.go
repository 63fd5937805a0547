// Package bffg implements Backward Filtering Forward Guiding (BFFG) on trees with
// discrete Gaussian edges (van der Meulen & Sommer, JMLR 26(281), 2025).
//
// The model: node states x_v ∈ R^d, a root fixed or Gaussian, edges
// x_v | x_pa ~ p_v(· | x_pa) = N(μ_v(x_pa), Q_v(x_pa)) (the true Kernel, possibly
// nonlinear), and leaf observations y_ℓ = x_ℓ + η_ℓ, η_ℓ ~ N(0, R) on the observed
// coordinates (Obs). The backward filter (Filter.Run) pulls messages
//
//	h_v(x) = exp(c_v + F_v'x − ½x'H_v x)
//
// from the leaves to the root through linear-Gaussian proxy edges N(A x + b, Q) (Proxy),
// fusing them at each parent by adding (H, F, c). The constant c carries every
// normalising term, so log h_root is the exact log marginal likelihood of the proxy
// model (Filter.LogLikelihood). The guided forward pass (Filter.Guide) maps standard
// normal noise z to node states drawn from p_v(x_v | x_pa)·h_v(x_v), with per-edge
// log-weights log w_v that correct for the proxy; with proxy = truth they are exactly
// zero and the draw is an exact sample from p(x | y).
//
// # Invariants
//
//   - No step inverts H or Q: pullbacks and guided steps factor S = I + R'HR (R a square
//     root of Q), which is always positive definite, so unobserved subtrees (H = 0) and
//     zero-length edges (Q = 0) need no special case. Exactly observed leaves (zero noise)
//     are pulled back in observation space and drawn by pathwise conditioning.
//   - Node order is breadth-first (package topology); fields are node-major; Obs rows
//     follow Topology.Leaf order. Results do not depend on Filter.Schedule.
//   - A Filter reuses its storage: after the first Run on a tree, Run, LogLikelihood and
//     Guide do not allocate.
//   - Data problems (a covariance that is not positive definite, a non-finite
//     observation) are returned as *NodeError naming the node; misuse (wrong buffer
//     sizes, Guide before Run) panics.
//
// MarginalBM, Joint, DenseLogLikelihood and DensePosterior are the dense closed forms the
// filter is checked against.
//
// # SDE edges
//
// FlowFilter runs BFFG on trees whose edges carry an SDE with diffusion covariance
// K(x) ⊗ I_d, and a drift b(x) if the Flow is a Drifter: landmark shapes under a
// stochastic flow, such as the Kunita model of hyperiax notebook 07 (KunitaFlow,
// driftless) or its pull towards a shape (MeanReverting). Edges may also be discrete
// nonlinear Gaussian transitions (FlowFilter.Discrete). Its messages stay in factorised
// square-root form, its auxiliary process interpolates K between two anchors (with the
// linear drift of an AuxDrifter, if the Flow is one) or, with exact steps and
// LocalAux, is linearised at every step's state. Exact steps may integrate that
// linear drift exactly (ExponentialSteps). Its reverse pass (FlowFilter.Backward) differentiates log h_root + Σ log w in the noise,
// the flow's parameters and the leaf noise. FlowPotential wraps it for samplers.
// SDEFilter is the plain D×D version used as a reference.
package bffg
