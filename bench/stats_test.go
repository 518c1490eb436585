// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// samples are per-iteration values of one figure. Medians and quantiles
// of them, rather than means, keep one iteration disturbed by the noisy
// machine from moving the result.
type samples []float64

// quantile returns the q-quantile (0 ≤ q ≤ 1) by linear interpolation
// between the closest ranks, or NaN when there are no samples.
func (s samples) quantile(q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	v := slices.Clone(s)
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(v)-1)
	return v[lo] + (v[hi]-v[lo])*(pos-float64(lo))
}

func (s samples) median() float64 { return s.quantile(0.5) }
func (s samples) min() float64    { return s.quantile(0) }
func (s samples) max() float64    { return s.quantile(1) }

// medianCI returns a distribution-free 95% confidence interval of the
// median of the population s was drawn from: the order statistics whose
// ranks bound the median with probability 0.95, the count of samples
// below it being binomial (normal approximation, fair from about 20
// samples). With 10 samples or fewer it is the whole range.
func (s samples) medianCI() (lo, hi float64) {
	if len(s) == 0 {
		return math.NaN(), math.NaN()
	}
	v := slices.Clone(s)
	slices.Sort(v)
	n := float64(len(v))
	h := 1.96 * math.Sqrt(n) / 2
	j := max(int(math.Floor(n/2-h)), 1) // 1-based ranks
	k := min(int(math.Ceil(1+n/2+h)), len(v))
	return v[j-1], v[k-1]
}

// ratios returns a[i]/b[i] for each pair measured in the same iteration.
func ratios(a, b samples) samples {
	r := make(samples, 0, min(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		r = append(r, a[i]/b[i])
	}
	return r
}

// rotation returns the order of n subjects in iteration i: each subject
// goes first in turn, so that none always runs on a machine warmed, or
// disturbed, by the one before it.
func rotation(i, n int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (i + k) % n
	}
	return order
}

func TestMedianCI(t *testing.T) {
	var s samples
	for i := 100; i >= 1; i-- { // the order the samples come in must not matter
		s = append(s, float64(i))
	}
	// Ranks 40 and 61 of 100: the interval of the usual tables.
	if lo, hi := s.medianCI(); lo != 40 || hi != 61 {
		t.Errorf("100 samples: CI [%v, %v], want [40, 61]", lo, hi)
	}
	if lo, hi := (samples{3, 1, 2, 5, 4}).medianCI(); lo != 1 || hi != 5 {
		t.Errorf("5 samples: CI [%v, %v], want the whole range", lo, hi)
	}
	if lo, _ := (samples{}).medianCI(); !math.IsNaN(lo) {
		t.Errorf("no samples: CI from %v, want NaN", lo)
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		s    samples
		q    float64
		want float64
	}{
		{"one", samples{7}, 0.9, 7},
		{"median odd", samples{3, 1, 2}, 0.5, 2},
		{"median even", samples{4, 1, 3, 2}, 0.5, 2.5},
		{"p90", samples{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0.9, 9.1},
		{"min", samples{5, 2, 9}, 0, 2},
		{"max", samples{5, 2, 9}, 1, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("quantile(%v, %v) = %v, want %v", tt.s, tt.q, got, tt.want)
			}
		})
	}
	if got := (samples{}).median(); !math.IsNaN(got) {
		t.Errorf("median of no samples = %v, want NaN", got)
	}
}

func TestRotation(t *testing.T) {
	if got := rotation(4, 3); !slices.Equal(got, []int{1, 2, 0}) {
		t.Errorf("rotation(4, 3) = %v, want [1 2 0]", got)
	}
}

// writeSamples writes s, one value per line, to NAME.txt in the directory
// $TACET_BENCH_SAMPLES names, for the report's plots; without it, it does
// nothing. A run with -count > 1 overwrites the file: the plot shows the
// last run.
func writeSamples(b *testing.B, name string, s samples) {
	b.Helper()
	dir := os.Getenv("TACET_BENCH_SAMPLES")
	if dir == "" {
		return
	}
	var buf []byte
	for _, v := range s {
		buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		buf = append(buf, '\n')
	}
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".txt"), buf, 0o644)
	}
	if err != nil {
		b.Logf("samples of %s not written: %v", name, err)
	}
}
