//go:build !unix

package entdb

import "context"

// fileLock is a no-op where flock(2) does not exist; SQLite's own locking
// still keeps a concurrent migration from corrupting the file.
type fileLock struct{ path string }

func (fileLock) Lock(context.Context) (func(), error) { return func() {}, nil }
