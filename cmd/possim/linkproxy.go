package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// linkProxy is the simulated 4G data path: a TCP forwarder between the
// terminal and the acquirer host that carries traffic only while the
// emulated modem is registered. Detaching the modem (possim modem detach)
// closes every connection and refuses new ones, as a real terminal's link
// goes when the radio drops; attaching it restores the path.
type linkProxy struct {
	ln       net.Listener
	upstream string
	log      *slog.Logger

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
}

func newLinkProxy(listen, upstream string, log *slog.Logger) (*linkProxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &linkProxy{ln: ln, upstream: upstream, log: log, up: true, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

func (p *linkProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			// No radio: the connection goes nowhere.
			c.Close()
			continue
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

// setUp carries traffic (true) or cuts every connection (false).
func (p *linkProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.up == up {
		return
	}
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
	p.log.Info("link proxy", "up", up)
}

func (p *linkProxy) Close() error {
	p.setUp(false)
	err := p.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
