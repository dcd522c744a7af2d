package node

import (
	"errors"
	"net"
)

// FreeLoopbackAddr returns a 127.0.0.1 address whose port is free for both
// TCP and UDP, as gossip needs, so that a first node's gossip address can
// be handed to the others before it starts (dev clusters, tests).
func FreeLoopbackAddr() (string, error) {
	for i := 0; i < 20; i++ {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := tl.Addr().String()
		ul, err := net.ListenPacket("udp", addr)
		tl.Close()
		if err != nil {
			continue
		}
		ul.Close()
		return addr, nil
	}
	return "", errors.New("no loopback port free for both TCP and UDP")
}
