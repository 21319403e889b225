//go:build unix

package entdb

import (
	"context"
	"os"
	"syscall"
)

// fileLock serialises migrations of one SQLite file across processes.
type fileLock struct{ path string }

func (l fileLock) Lock(context.Context) (func(), error) {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
