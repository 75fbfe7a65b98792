package throttle

import (
	"reflect"
	"testing"
)

func TestCalendarEncoding(t *testing.T) {
	t.Parallel()
	c := &calendar{perQ: 10, cursor: 1000, used: map[int64]int64{999: 10, 1000: 3, 1003: 9, 5000: 1, 6000: 0}}
	raw := c.encode()
	back := &calendar{full: 1000, used: map[int64]int64{}}
	if err := back.decode(raw); err != nil {
		t.Fatal(err)
	}
	// Quanta before the cursor are implied full; empty ones are not stored.
	want := map[int64]int64{1000: 3, 1003: 9, 5000: 1}
	if !reflect.DeepEqual(back.used, want) {
		t.Errorf("decoded %v, want %v", back.used, want)
	}
	if err := back.decode([]byte{0x80}); err == nil {
		t.Error("decoded a truncated calendar")
	}
}

func TestCapacityGrid(t *testing.T) {
	t.Parallel()
	// 30/s is 1.5 slots a quantum: the grid alternates 1 and 2, and any run
	// of quanta holds its length × 1.5, rounded, give or take one.
	c := &calendar{perQ: 30 * Quantum.Seconds()}
	var sum int64
	for j := int64(100); j < 120; j++ {
		n := c.capacity(j)
		if n != 1 && n != 2 {
			t.Fatalf("quantum %d holds %d", j, n)
		}
		sum += n
	}
	if sum != 30 {
		t.Errorf("20 quanta (1 s) hold %d slots at 30/s", sum)
	}
}
