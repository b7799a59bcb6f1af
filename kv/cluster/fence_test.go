package cluster

import "testing"

// A lock let go between a write's start and its fencing check is not taken for lost; one
// still held, in the same holding, whose session the database no longer shows, is; so is
// none taken again since (a new holding is checked by the next write).
func TestFencesTellLostFromLetGo(t *testing.T) {
	var f fences
	f.add(1, 100)
	f.add(2, 200)
	h := f.held()
	f.remove(1, 1) // let go meanwhile: the database then no longer shows it
	if f.lost(h, []int64{1}) {
		t.Fatal("a lock let go meanwhile was taken for lost")
	}
	if !f.lost(h, []int64{2}) {
		t.Fatal("a lock still held whose session is gone was not taken for lost")
	}
	f.add(1, 300) // taken again, on another session, after the write began
	if f.lost(h, []int64{1}) {
		t.Fatal("a lock let go and taken again meanwhile was taken for lost")
	}
}
