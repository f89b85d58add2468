//go:build !linux

package playout

import "syscall"

// rawSocket: direct delivery is for Linux only; elsewhere every viewer is
// written by its own goroutine.
func rawSocket(any) syscall.RawConn { return nil }

func (v *Viewer) writevNow([][]byte) int { return 0 }

func (v *Viewer) writevFD(uintptr) bool { return true }

type iovec struct{}
