package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxEchoed bounds how many WARN/ERROR lines of the relay are echoed to our
// stderr, so that a flood of them does not drown the progress lines.
const maxEchoed = 20

// relay is one tsstream process under test. Its stderr is drained for the
// whole run: the listening lines give the bound addresses, the other lines
// are counted by message and reason.
type relay struct {
	// Static after startRelay.
	cmd        *exec.Cmd
	pid        int
	httpAddr   string
	ingestAddr string
	tcpAddr    string // TCP play listener, when the relay has one
	wantTCP    bool

	done     chan struct{} // closed once the process has exited
	exitErr  error         // what Wait returned; valid after done
	stopping atomic.Bool   // we sent SIGTERM

	mu     sync.Mutex     // guards the fields below
	counts map[string]int // log lines by msg and reason
	echoed int
}

// startRelay runs bin on loopback ports chosen by the kernel, with extra
// arguments (such as -config) after ours, and waits until it has logged the
// HTTP and TCP ingest addresses.
func startRelay(bin string, extra ...string) (*relay, error) {
	args := append([]string{"-http", "127.0.0.1:0", "-ingest", "127.0.0.1:0",
		"-ws", "", "-log-level", "info"}, extra...)
	return startProcess(bin, args, false)
}

// startProcess runs bin with args, a relay that logs its listening
// addresses as tsstream does (tsstream itself or the reference); with
// wantTCP it also waits for a TCP play listener.
func startProcess(bin string, args []string, wantTCP bool) (*relay, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = os.Stderr // our stdout carries only the JSON lines
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	r := &relay{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), counts: map[string]int{}, wantTCP: wantTCP}
	found := make(chan struct{})
	go r.drain(stderr, found)
	select {
	case <-found:
		return r, nil
	case <-r.done:
		return nil, fmt.Errorf("%s exited before it listened: %v", bin, r.exitErr)
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-r.done
		return nil, fmt.Errorf("%s did not log its listening addresses within 10s", bin)
	}
}

// drain reads the relay's log until the process ends, then reaps it.
func (r *relay) drain(stderr io.Reader, found chan struct{}) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var httpAddr, ingestAddr string
	for sc.Scan() {
		line := sc.Text()
		kv := logFields(line)
		if kv["msg"] == "listening" && found != nil {
			switch kv["role"] + "/" + kv["protocol"] {
			case "http/http":
				httpAddr = kv["address"]
			case "ingest/tcp":
				ingestAddr = kv["address"]
			case "play/tcp":
				r.tcpAddr = kv["address"]
			}
			if httpAddr != "" && ingestAddr != "" && (r.tcpAddr != "" || !r.wantTCP) {
				r.httpAddr, r.ingestAddr = httpAddr, ingestAddr
				close(found)
				found = nil
			}
		}
		r.count(kv, line)
	}
	io.Copy(io.Discard, stderr)
	r.exitErr = r.cmd.Wait()
	close(r.done)
}

func (r *relay) count(kv map[string]string, line string) {
	key := kv["msg"]
	if reason := kv["reason"]; reason != "" {
		key += " (" + reason + ")"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[key]++
	if lvl := kv["level"]; (lvl == "WARN" || lvl == "ERROR") && r.echoed < maxEchoed {
		r.echoed++
		fmt.Fprintln(os.Stderr, "relay:", line)
	}
}

// logCounts returns a copy of the counts of log lines so far.
func (r *relay) logCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		c[k] = v
	}
	return c
}

// died returns an error if the relay exited without being asked to.
func (r *relay) died() error {
	select {
	case <-r.done:
		if !r.stopping.Load() {
			return fmt.Errorf("relay (pid %d) died during the run: %v", r.pid, r.exitErr)
		}
	default:
	}
	return nil
}

// stop sends SIGTERM and checks that the relay exits cleanly within limit.
func (r *relay) stop(limit time.Duration) error {
	if err := r.died(); err != nil {
		return err
	}
	r.stopping.Store(true)
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM to relay: %w", err)
	}
	select {
	case <-r.done:
	case <-time.After(limit):
		r.cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("relay did not exit within %v of SIGTERM; killed", limit)
	}
	if r.exitErr != nil {
		return fmt.Errorf("relay exited badly after SIGTERM: %w", r.exitErr)
	}
	return nil
}

// kill ends the relay at once if it still runs (error paths).
func (r *relay) kill() {
	select {
	case <-r.done:
	default:
		r.stopping.Store(true)
		r.cmd.Process.Kill()
		<-r.done
	}
}

// logFields splits a log/slog text line (key=value, values quoted when
// they hold spaces) into its fields.
func logFields(line string) map[string]string {
	kv := make(map[string]string, 8)
	for s := line; s != ""; {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key, rest := s[:eq], s[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		kv[key] = val
		s = rest
	}
	return kv
}
