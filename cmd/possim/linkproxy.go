package main

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// linkProxy is the simulated 4G data path: a TCP forwarder between the
// terminal and the acquirer host that carries traffic only while the
// emulated modem is registered. Detaching the modem (possim modem detach)
// closes every connection and stops listening, so the terminal's next
// connect is refused at once, as when the radio has dropped and the data
// interface is gone (a connect then fails with "network unreachable"; it
// is never accepted and dropped, which would look to the terminal like a
// request that may have reached the host). Attaching it listens again on
// the same address.
type linkProxy struct {
	addr     string
	upstream string
	log      *slog.Logger

	mu    sync.Mutex
	ln    net.Listener // nil while down
	conns map[net.Conn]struct{}
}

func newLinkProxy(listen, upstream string, log *slog.Logger) (*linkProxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &linkProxy{addr: ln.Addr().String(), upstream: upstream, log: log, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept(ln)
	return p, nil
}

func (p *linkProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed: the link went down, or possim is stopping
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			p.log.Warn("link proxy: upstream not reachable", "upstream", p.upstream, "err", err)
			c.Close()
			continue
		}
		p.track(c, u)
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *linkProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *linkProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// setUp carries traffic (true: listen again) or cuts the path (false:
// every connection closed, the listener too).
func (p *linkProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if (p.ln != nil) == up {
		return
	}
	if !up {
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
		p.log.Info("link proxy", "up", false)
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment after Close
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.ln = ln
			go p.accept(ln)
			p.log.Info("link proxy", "up", true)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.log.Error("link proxy: cannot listen again", "addr", p.addr, "err", err)
}

func (p *linkProxy) Close() error {
	p.setUp(false)
	return nil
}
