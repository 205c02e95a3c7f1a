package httpapi

import (
	"net"
	"sync"
)

// LimitListener caps the connections a server holds open: at most total at
// once (past that, connections wait in the kernel's accept queue rather
// than each taking a file descriptor), and at most perHost from one client
// address (past that, a new connection is closed at once), so that one
// client flooding connections cannot make the others wait. perHost 0
// disables the per-host cap — behind a reverse proxy every connection comes
// from the proxy.
func LimitListener(ln net.Listener, total, perHost int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, total), perHost: perHost, open: map[string]int{}}
}

type limitListener struct {
	net.Listener
	slots   chan struct{}
	perHost int
	mu      sync.Mutex
	open    map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		l.slots <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		l.mu.Lock()
		if l.perHost > 0 && l.open[host] >= l.perHost {
			l.mu.Unlock()
			c.Close()
			<-l.slots
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &limitConn{Conn: c, l: l, host: host}, nil
	}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

type limitConn struct {
	net.Conn
	l        *limitListener
	host     string
	closeOne sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.closeOne.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.host]--; c.l.open[c.host] <= 0 {
			delete(c.l.open, c.host)
		}
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
