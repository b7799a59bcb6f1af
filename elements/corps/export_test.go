package corps

// TestHooks are the failures a test injects (see testHooks).
type TestHooks = testHooks

// SetTestHooks installs hooks until the returned func is called. Tests that set them do
// not run in parallel with others.
func SetTestHooks(h TestHooks) (undo func()) {
	hooks.Store(&h)
	return func() { hooks.Store(nil) }
}
