// Command canopy fits trait-evolution models on phylogenetic trees by Backward
// Filtering Forward Guiding.
//
// Usage:
//
//	canopy fit      [--tree FILE --traits FILE] [--model bm|ou] [--noise estimate|none|VALUE]
//	                [--sampler nuts|rwpcn] [--chains 4] [--warmup 1000] [--draws 1000]
//	                [--adapt-delta 0.8] [--max-depth 10] [--seed N] [--out DIR]
//	canopy ml       --tree FILE --traits FILE [--model bm|ou] [--noise estimate|none|VALUE]
//	                [--per-trait] [--json]
//	canopy simulate --tree FILE [--model bm|ou] [--sigma2 1] [--alpha 1] [--theta 0]
//	                [--root 0] [--noise 0] [--traits 1] [--seed N] [--out FILE]
//	canopy simulate --tree FILE --model kunita [--landmarks 16] [--kalpha 0.1]
//	                [--ksigma 0.25] [--steps 100] [--noise 0] [--seed N] [--out FILE.tps]
//
// With no data arguments, fit and ml run on the built-in data set (the tree and leaf
// observations of hyperiax notebooks 05/06). Trees are Newick or Nexus files
// (--tree-index picks a tree of a multi-tree file); traits are CSV files with a header
// taxon,trait1,..., where NA or an empty cell marks a missing value.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/canopy-bffg/canopy/format"
)

const usage = `canopy fits trait-evolution models on phylogenies by Backward Filtering Forward Guiding.

Usage:
  canopy fit      [flags]   Bayesian fit by MCMC (NUTS by default); built-in data without --tree/--traits
  canopy ml       [flags]   maximum likelihood, AIC/AICc and ancestral states
  canopy simulate [flags]   simulate traits (CSV) or landmark shapes (--model kunita, TPS) on a tree

Run 'canopy COMMAND -h' or 'canopy help COMMAND' for the flags of a command.
`

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, flag.ErrHelp) {
		// Lists of data errors (every mismatched taxon, every bad row) one per line.
		var b strings.Builder
		format.PrintError(&b, err)
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprintln(os.Stderr, "canopy:", line)
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errors.New("no command")}
	}
	switch args[0] {
	case "fit":
		return runFit(ctx, args[1:], stdout, stderr)
	case "ml":
		return runML(args[1:], stdout, stderr)
	case "simulate":
		return runSimulate(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 { // canopy help fit: the command's flags, as canopy fit -h
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", args[0])}
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("canopy "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0, err: err}
		}
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
