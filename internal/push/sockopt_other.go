//go:build !unix

package push

import (
	"errors"
	"syscall"
)

// socketOptions: setting the TTL or the multicast interface is only
// implemented on Unix.
func socketOptions(ttl int, iface string) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return errors.New("udp ttl= and iface= are not supported on this system")
	}
}
