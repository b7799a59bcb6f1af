//go:build race

package hugeheap

// raceEnabled: under the race detector, memory the heap maps is written (its shadow), so
// a reservation would be resident; none is made.
const raceEnabled = true
