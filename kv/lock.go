package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lockFile is the file in the data folder that the owner of the state holds an OS lock
// on (flock). It also says who the owner is, for others to name it or reach it. The OS
// drops the lock when the owner exits, however it exits: nothing is left to clean up.
const lockFile = "lock"

// Owner describes the process that holds an app's state.
type Owner struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	// Endpoint is where the owner takes work from other processes (jitrt run's control
	// socket), "" if it takes none.
	Endpoint string `json:"endpoint,omitempty"`
	Since    string `json:"since"`
}

// LockedError is returned when another process holds the state.
type LockedError struct {
	Dir   string
	Owner Owner // as the holder described itself (PID 0 if it has not yet)
	// Others are the other holders (the replicas that share a database schema).
	Others []Owner
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("the state in %s is in use by %s", e.Dir, e.Holders())
}

// Holders names the processes that hold the state: "pid 1 (jitrt run), and pid 2 (jitrt
// run)", or "another process" when the holder has not said who it is.
func (e *LockedError) Holders() string {
	if e.Owner.PID == 0 {
		return "another process"
	}
	s := fmt.Sprintf("pid %d (%s)", e.Owner.PID, e.Owner.Command)
	for _, o := range e.Others {
		s += fmt.Sprintf(", and pid %d (%s)", o.PID, o.Command)
	}
	return s
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lock takes the lock of the data folder dir as the options say.
func (o Options) lock(ctx context.Context, dir string) (*dirLock, error) {
	wait := o.LockTimeout
	if wait == 0 {
		wait = DefaultLockTimeout
	}
	return lockDir(ctx, dir, o.Command, max(wait, 0))
}

// dirLock is a held lock on a data folder.
type dirLock struct {
	f     *os.File
	owner Owner
}

// lockDir takes the lock of the data folder dir, waiting up to wait for a holder to let
// go (polling: the wait is the rare case). It returns a *LockedError when it cannot.
func lockDir(ctx context.Context, dir, command string, wait time.Duration) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kv: create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kv: open the lock of %s: %w", dir, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("kv: lock %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			owner, _, _ := ReadOwner(dir)
			return nil, &LockedError{Dir: dir, Owner: owner}
		}
		t := time.NewTimer(min(25*time.Millisecond, time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	l := &dirLock{f: f, owner: Owner{PID: os.Getpid(), Command: command, Since: time.Now().UTC().Format(time.RFC3339)}}
	if err := l.write(); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// write records the owner in the lock file.
func (l *dirLock) write() error {
	b, _ := json.Marshal(l.owner)
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("kv: write the lock: %w", err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("kv: write the lock: %w", err)
	}
	return nil
}

// release clears the owner record and lets go of the lock.
func (l *dirLock) release() {
	l.f.Truncate(0)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// ReadOwner reads who holds (or, if it was killed, last held) the state in dir. ok is
// false when the lock file names nobody.
func ReadOwner(dir string) (o Owner, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, lockFile))
	if errors.Is(err, os.ErrNotExist) {
		return o, false, nil
	}
	if err != nil {
		return o, false, err
	}
	if strings.TrimSpace(string(b)) == "" {
		return o, false, nil
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, false, nil // being written; the caller tries again
	}
	return o, o.PID != 0, nil
}
