package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Late joiners run in a process of their own (tsbench -join-serve).
//
// With the GOP cache each of the 500 late joiners gets up to a GOP at once
// (about 200 KB at 1.74 Mbit/s and a 2 s GOP). Read in the harness's own
// process, that burst is cut into packets by 500 goroutines on the same two
// Ps as the 1,000 measured viewers, whose goroutines then wait in the
// harness's run queue before they take the time of their next read: the
// measured delay rose with the harness's work, not the relay's. In their
// own process the joiners share the CPU with the measured viewers the way
// any two programs do, through the kernel's scheduler. Once a joiner has
// its first frame it drops what it reads without copying it (discard), so
// that it costs this machine little more than the relay's sending does:
// its player would be on another machine.

// discard reads and drops what conn receives until it ends, without
// copying it out of the kernel (recv with MSG_TRUNC). A joiner that has
// its first frame only has to keep the relay writing to it, as a player
// on another machine would; what it reads should cost the measured
// viewers on this machine as little as can be.
func discard(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		_, err := io.Copy(io.Discard, conn)
		return err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = syscall.Recvfrom(int(fd), discardBuf[:], syscall.MSG_TRUNC|syscall.MSG_DONTWAIT)
			return rerr != syscall.EAGAIN
		})
		switch {
		case err != nil:
			return err
		case rerr != nil:
			return rerr
		case n == 0:
			return io.EOF
		}
	}
}

// discardBuf is only there for its length, which bounds what one recv
// drops: with MSG_TRUNC a TCP socket copies nothing into it, so every
// joiner shares it.
var discardBuf [256 << 10]byte

// joinSpec tells the joiner process whom to connect and when.
type joinSpec struct {
	Proto    string        `json:"proto"`
	Addr     string        `json:"addr"`
	N        int           `json:"n"`
	Parallel int           `json:"parallel"`
	Start    int64         `json:"start"` // the harness's clock origin, Unix nanoseconds
	At       time.Duration `json:"at"`    // connect at Start + At
	Video    bool          `json:"video"`
}

// joinResult is what the joiner process reports when told to stop.
type joinResult struct {
	Failed int `json:"failed"`
	// For each joiner that connected: when it dialled and when it had a
	// whole first keyframe (-1: never), since Start.
	DialAt  []time.Duration `json:"dial_at"`
	FirstAt []time.Duration `json:"first_at"`
}

// joiners is a running joiner process.
type joiners struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

// startJoiners starts a joiner process that connects n viewers to t at
// start+after, parallel at a time, and keeps them until finish.
func startJoiners(t target, n, parallel int, after time.Duration, start time.Time) (*joiners, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding tsbench's own binary for the joiners: %w", err)
	}
	spec, _ := json.Marshal(joinSpec{Proto: t.proto, Addr: t.addr, N: n, Parallel: parallel,
		Start: start.UnixNano(), At: after, Video: t.video})
	j := &joiners{cmd: exec.Command(self, "-join-serve", string(spec))}
	j.cmd.Stdout, j.cmd.Stderr = &j.out, os.Stderr
	if j.stdin, err = j.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := j.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the joiner process: %w", err)
	}
	return j, nil
}

// finish tells the joiners to hang up and returns what they saw.
func (j *joiners) finish() (joinResult, error) {
	j.stdin.Close()
	var res joinResult
	if err := j.cmd.Wait(); err != nil {
		return res, fmt.Errorf("joiner process: %w", err)
	}
	if err := json.Unmarshal(j.out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("joiner process's report %q: %w", j.out.String(), err)
	}
	return res, nil
}

// kill ends the joiner process if finish was not reached.
func (j *joiners) kill() {
	if j != nil && j.cmd.ProcessState == nil {
		j.cmd.Process.Kill()
		j.cmd.Wait()
	}
}

// serveJoiners is the joiner process: it connects the joiners of spec,
// waits for stop to end (its standard input), hangs up and writes its
// report to out as JSON. It returns the exit code.
func serveJoiners(specJSON string, stop io.Reader, out io.Writer) int {
	var spec joinSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "tsbench -join-serve:", err)
		return 2
	}
	start := time.Unix(0, spec.Start)
	t := target{proto: spec.Proto, addr: spec.Addr, video: spec.Video, late: true}
	var wg sync.WaitGroup
	time.Sleep(time.Until(start.Add(spec.At)))
	vs, failed := connectViewers(t, spec.N, spec.Parallel, start, &wg)
	if failed > 0 {
		logf("%d late joiners failed to connect", failed)
	}
	io.Copy(io.Discard, stop)
	for _, v := range vs {
		v.conn.Close()
	}
	wg.Wait()
	res := joinResult{Failed: failed}
	for _, v := range vs {
		first := time.Duration(-1)
		if v.first.done {
			first = v.first.at
		}
		res.DialAt = append(res.DialAt, v.dialAt)
		res.FirstAt = append(res.FirstAt, first)
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return 1
	}
	return 0
}
