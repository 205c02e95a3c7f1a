package httpapi

import (
	"io"
	"net"
	"testing"
	"time"
)

// One client address gets at most perHost connections; past that its new
// connections are closed at once, while another address is still served.
func TestLimitListenerPerHost(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 10, 3)
	defer ln.Close()
	accepted := make(chan net.Conn, 20)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(ip net.IP) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: time.Second}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	flood := net.IPv4(127, 0, 0, 2)
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		conns = append(conns, dial(flood))
	}
	// Connections 4 and 5 from the flooding address are closed by the listener.
	for _, c := range conns[3:] {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("a connection past the per-host cap was not closed: %v", err)
		}
	}
	// Another address still gets in.
	other := dial(net.IPv4(127, 0, 0, 1))
	defer other.Close()
	got := 0
	timeout := time.After(2 * time.Second)
	for got < 4 {
		select {
		case c := <-accepted:
			defer c.Close()
			got++
		case <-timeout:
			t.Fatalf("accepted %d connections, want 3 from the flood and 1 from the other address", got)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}
