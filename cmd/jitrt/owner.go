package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/control"
	"github.com/jitrt/jitrt/internal/hugeheap"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/runtime"
)

// work is what exec and call do: here, in this process, or there, through the control
// socket of the jitrt run that owns the app's state. Either way it prints the same output
// and returns the same error.
type work struct {
	local  func(app *runtime.App) (json.RawMessage, error)
	remote control.Request
}

// runOrSend does w where the app's state is: in a jitrt run that owns it (through its
// control socket), else here, owning it for the while. With neither, it waits up to
// --lock-timeout for the owner to let go (or to start serving), then fails naming it.
func (f *appFlags) runOrSend(cmd *cobra.Command, dir string, w work) (json.RawMessage, error) {
	ctx := cmd.Context()
	dataDir := f.dataDir(dir)
	opts, err := f.options(cmd, runtime.StateOwn)
	if err != nil {
		return nil, err
	}
	opts.LockTimeout = -1 // waited for here, so that a server that starts meanwhile is seen
	// one script or method runs: one runtime made ahead (a nested run makes another), not
	// one a core, the second competing with the state's open for the two cores; and as no
	// runtime serves a second run, none has its built-ins frozen (jshost.Options.OneRun)
	opts.PoolSize, opts.OneRun = 1, true
	opts.Command = "jitrt " + cmd.Name() + " " + dir
	deadline := time.Now().Add(f.lockTimeout)
	for {
		if owner, ok, _ := kv.ReadOwner(dataDir); ok && owner.Endpoint != "" {
			if cl, err := control.Dial(owner.Endpoint); err == nil {
				defer cl.Close()
				if cmd.Flags().Changed("timeout") {
					w.remote.Timeout = f.timeout // else the server's
				}
				return cl.Do(ctx, w.remote, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
		}
		restoreGC := loadingGC()
		// the heap of a command that ends when its work does is backed by huge pages
		// (hugeheap: a million-member sync's page faults a fifth); a server's is not, its
		// heap long-lived and returned to the system as it shrinks
		huge := hugeheap.Advise()
		app, err := runtime.Load(ctx, dir, opts)
		restoreGC()
		if err == nil {
			defer huge.Stop()
			defer app.Close()
			softMemoryLimit(app)
			return w.local(app)
		}
		huge.Stop()
		var locked *kv.LockedError
		if !errors.As(err, &locked) {
			return nil, damaged(dir, err)
		}
		if time.Now().After(deadline) {
			return nil, inUse(dir, locked)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
	}
}
