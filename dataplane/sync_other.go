//go:build !unix || aix

package dataplane

// canDeferSync is unset here: there is no whole-filesystem sync to defer
// to (Windows, Plan 9, WebAssembly; AIX's sync(2) reports no errors), so
// StoreOptions.DeferSync is ignored and Commit always syncs.
const canDeferSync = false

// fsSyncer is never used on this platform; its sync is a no-op.
type fsSyncer struct{}

func openFSSyncer(string) (*fsSyncer, error) { return &fsSyncer{}, nil }

func (*fsSyncer) sync() error { return nil }
