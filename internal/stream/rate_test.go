package stream

import (
	"slices"
	"testing"
	"time"
)

func TestRateHistory(t *testing.T) {
	at := func(sec int64, ms int) time.Time { return time.Unix(sec, int64(ms)*1e6) }
	const t0 = 1_000_000
	cases := []struct {
		name  string
		adds  [][2]int64 // second after t0, bytes
		now   int64      // seconds after t0
		step  int
		want  []int64
		last1 int64 // bitsPerSecond
	}{
		{"nothing yet", nil, 0, 1, []int64{}, 0},
		{"counting the first second", [][2]int64{{0, 100}}, 0, 1, []int64{}, 0},
		{"three seconds", [][2]int64{{0, 100}, {1, 200}, {2, 300}}, 3, 1, []int64{800, 1600, 2400}, 2400},
		{"a gap is zeros", [][2]int64{{0, 100}, {3, 100}}, 4, 1, []int64{800, 0, 0, 800}, 800},
		{"steps average, newest last", [][2]int64{{0, 100}, {1, 300}, {2, 500}, {3, 700}, {4, 1}}, 5, 2, []int64{3200, 2804}, 8}, // seconds 1-2 and 3-4
		{"five minutes at most", [][2]int64{{0, 1}, {400, 10}, {401, 20}}, 402, 100, []int64{0, 0, 2}, 160},                      // seconds 102-401: 30 bytes in the last step
		{"a gap longer than the history", [][2]int64{{0, 50}, {1, 50}, {700, 10}}, 701, 300, []int64{0}, 80},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m rateMeter
			for _, a := range tc.adds {
				m.add(at(t0+a[0], 500), int(a[1]))
			}
			if got := m.history(at(t0+tc.now, 100), tc.step); !slices.Equal(got, tc.want) {
				t.Errorf("history = %v, want %v", got, tc.want)
			}
			if got := m.bitsPerSecond(at(t0+tc.now, 100)); got != tc.last1 {
				t.Errorf("bitsPerSecond = %d, want %d", got, tc.last1)
			}
		})
	}
}
