//go:build unix

package push

import (
	"fmt"
	"net"
	"syscall"
)

// socketOptions returns a dialer Control function that sets a UDP
// socket's TTL (for a multicast group, the multicast TTL, whose default is
// 1) and, for a group, the outgoing interface, before it connects.
func socketOptions(ttl int, iface string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		v6 := network == "udp6"
		group := ip != nil && ip.IsMulticast()
		var ifi *net.Interface
		var ifaddr [4]byte
		if iface != "" {
			if ifi, err = net.InterfaceByName(iface); err != nil {
				return fmt.Errorf("iface=%s: %w", iface, err)
			}
			if !v6 {
				if ifaddr, err = ipv4Of(ifi); err != nil {
					return err
				}
			}
		}
		var serr error
		err = c.Control(func(fd uintptr) {
			s := int(fd)
			set := func(level, opt, v int, name string) {
				if serr == nil {
					if e := syscall.SetsockoptInt(s, level, opt, v); e != nil {
						serr = fmt.Errorf("setting %s: %w", name, e)
					}
				}
			}
			if ttl >= 0 {
				switch {
				case v6 && group:
					set(syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_HOPS, ttl, "IPV6_MULTICAST_HOPS")
				case v6:
					set(syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, ttl, "IPV6_UNICAST_HOPS")
				case group:
					set(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL")
				default:
					set(syscall.IPPROTO_IP, syscall.IP_TTL, ttl, "IP_TTL")
				}
			}
			if ifi != nil && group {
				if v6 {
					set(syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_IF, ifi.Index, "IPV6_MULTICAST_IF")
				} else if e := syscall.SetsockoptInet4Addr(s, syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, ifaddr); e != nil && serr == nil {
					serr = fmt.Errorf("setting IP_MULTICAST_IF to %s: %w", iface, e)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// ipv4Of returns the first IPv4 address of an interface.
func ipv4Of(ifi *net.Interface) ([4]byte, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return [4]byte{}, fmt.Errorf("iface=%s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return [4]byte(v4), nil
			}
		}
	}
	return [4]byte{}, fmt.Errorf("iface=%s has no IPv4 address to send multicast from", ifi.Name)
}
