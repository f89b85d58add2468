package playout

import (
	"syscall"
	"unsafe"
)

// The deliverer's writes (see Viewer.TryWrite) are one writev on the raw,
// non-blocking socket. They are written by hand on purpose: this is the
// hottest call of a fan-out (once per viewer per chunk), and unix.Writev
// allocates its iovecs on every call; here they live in the viewer.

// rawSocket returns the socket under conn for non-blocking writes, or nil
// (a TLS connection, a pipe): those viewers are written by their own
// goroutine only.
func rawSocket(conn any) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writevNow writes bufs with one writev that does not wait, and returns
// how many bytes went; 0 when the socket buffer is full or on an error
// (the viewer's goroutine then meets it under its deadline).
func (v *Viewer) writevNow(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v.iov[n].Base = &b[0]
		v.iov[n].SetLen(len(b))
		n++
	}
	v.niov, v.wrote = n, 0
	if n == 0 {
		return 0
	}
	if err := v.raw.Write(v.writevFD); err != nil {
		v.wrote = 0
	}
	clear(v.iov[:n]) // keep no chunk alive
	return v.wrote
}

// writevFD is the call writevNow makes on the file descriptor; it is bound
// once as the method value v.writeFD so that no closure is made per
// write.
//
// It is a raw system call, which the scheduler does not see: the socket is
// non-blocking, so the call never waits, and the deliverer keeps its P
// through it. Through syscall.Syscall, the runtime's monitor (sysmon)
// takes the P from a goroutine that stays in a system call across one of
// its ticks (20 µs when busy) while other goroutines wait to run, and on
// loopback a writev takes 20-30 µs (it also runs the receiver's TCP). So
// while 500 viewers joined, the walk of writevs kept losing its P and
// queueing for one behind the joiners' handshakes, and the viewers already
// watching saw their delay spike (docs/benchmarks.md, "Raw writev and a
// paced GOP cache").
func (v *Viewer) writevFD(fd uintptr) bool {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(v.niov))
	if errno == 0 {
		v.wrote = int(n)
	}
	return true // never wait: the goroutine does that
}

type iovec = syscall.Iovec
