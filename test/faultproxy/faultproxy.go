// Package faultproxy is a TCP proxy for tests that breaks one connection at
// a chosen byte: it lets a test cut or freeze a client's conversation with a
// server (a kube-apiserver, say) at every point of a run, and see what the
// client leaves behind.
//
// The proxy copies bytes and nothing else: TLS stays end to end between the
// client and the server. Bytes are counted over both directions, in the order
// the proxy reads them, across every connection of the proxy: offset N is the
// N-th byte the proxy has read from either side since it started. A Plan
// breaks the connection whose bytes cross offset N, once; every other
// connection, and every connection made after the fault, passes through, so
// that a client that retries on a new connection goes on unharmed.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Fault is what happens to the connection that crosses the plan's offset.
type Fault int

const (
	// None forwards everything: the proxy only counts and traces.
	None Fault = iota
	// Reset forwards the bytes up to the offset, then closes both sides of
	// the connection with SO_LINGER 0, so that each peer reads a TCP RST.
	Reset
	// Stall forwards the bytes up to the offset, then stops forwarding in
	// both directions and holds both sides open until the proxy is closed:
	// the peers see a connection that has gone silent.
	Stall
)

func (f Fault) String() string {
	switch f {
	case Reset:
		return "reset"
	case Stall:
		return "stall"
	}
	return "none"
}

// Plan says where and how the proxy breaks a connection.
type Plan struct {
	Fault Fault
	// After is the number of bytes, both directions together, forwarded
	// before the fault. 0 breaks the first connection before its first byte.
	After int64
}

// Direction is the way bytes travel through the proxy.
type Direction int

const (
	// ClientToServer is from the connecting client to the target.
	ClientToServer Direction = iota
	// ServerToClient is from the target back to the client.
	ServerToClient
)

func (d Direction) String() string {
	if d == ServerToClient {
		return "server->client"
	}
	return "client->server"
}

// Chunk is one read the proxy made: Len bytes of connection Conn (numbered
// from 1 in the order the proxy accepted them) starting at offset Start.
type Chunk struct {
	Conn  int
	Dir   Direction
	Start int64
	Len   int64
}

// Proxy forwards the connections made to Addr to a target address.
type Proxy struct {
	listener net.Listener
	target   string

	mu      sync.Mutex
	plan    Plan
	armed   bool
	fired   *Chunk // the chunk the fault cut, once it fired
	total   int64
	trace   []Chunk
	conns   map[*link]bool
	nconns  int
	closed  bool
	serving sync.WaitGroup
}

// link is one client connection and its connection to the target.
type link struct {
	id             int
	client, server net.Conn
	broken         Fault // set once the fault hit this link
}

// Start listens on 127.0.0.1 on a free port and forwards every connection
// to target (host:port), breaking one as plan says.
func Start(target string, plan Plan) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{listener: ln, target: target, plan: plan, armed: plan.Fault != None, conns: map[*link]bool{}}
	p.serving.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the host:port clients connect to.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Bytes is the number of bytes read so far, both directions, every
// connection: after a run without a fault, the size of the run.
func (p *Proxy) Bytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// Fired reports whether the fault happened, and the chunk it cut.
func (p *Proxy) Fired() (Chunk, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fired == nil {
		return Chunk{}, false
	}
	return *p.fired, true
}

// Trace returns every read the proxy made, in offset order.
func (p *Proxy) Trace() []Chunk {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Chunk(nil), p.trace...)
}

// Connections is the number of connections accepted so far.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nconns
}

// Close stops listening and closes every connection, stalled ones included.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.listener.Close()
	for _, l := range links {
		l.client.Close()
		l.server.Close()
	}
	p.serving.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.serving.Done()
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.nconns++
		l := &link{id: p.nconns, client: client, server: server}
		p.conns[l] = true
		p.mu.Unlock()

		var both sync.WaitGroup
		both.Add(2)
		p.serving.Add(1)
		go func() {
			defer p.serving.Done()
			both.Wait()
			p.mu.Lock()
			held := l.broken == Stall && !p.closed
			p.mu.Unlock()
			if !held {
				p.forget(l)
			}
		}()
		go func() { defer both.Done(); p.copy(l, ClientToServer) }()
		go func() { defer both.Done(); p.copy(l, ServerToClient) }()
	}
}

func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
	l.client.Close()
	l.server.Close()
}

// copy forwards one direction of l until either side ends or the fault
// breaks it.
func (p *Proxy) copy(l *link, dir Direction) {
	src, dst := l.client, l.server
	if dir == ServerToClient {
		src, dst = l.server, l.client
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			forward, fault := p.account(l, dir, int64(n))
			if forward > 0 {
				if _, werr := dst.Write(buf[:forward]); werr != nil {
					halfClose(dst)
					return
				}
			}
			switch fault {
			case Reset:
				reset(l.client)
				reset(l.server)
				return
			case Stall:
				// Leave both sides open and silent; Close ends them.
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// A reset or a closed connection: pass the end on.
				dst.Close()
				return
			}
			halfClose(dst)
			return
		}
	}
}

// account records a read of n bytes and says how many of them to forward
// and whether the link breaks after them.
func (p *Proxy) account(l *link, dir Direction, n int64) (forward int64, fault Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.total
	p.total += n
	p.trace = append(p.trace, Chunk{Conn: l.id, Dir: dir, Start: start, Len: n})
	if l.broken != None {
		// The other direction already broke the link: drop what arrives.
		return 0, l.broken
	}
	if p.armed && start+n > p.plan.After {
		p.armed = false
		l.broken = p.plan.Fault
		p.fired = &Chunk{Conn: l.id, Dir: dir, Start: start, Len: n}
		return p.plan.After - start, p.plan.Fault
	}
	return n, None
}

// reset closes c so that its peer reads a TCP RST rather than an orderly end.
func reset(c net.Conn) {
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	c.Close()
}

// halfClose passes an orderly end of one direction on to c's peer.
func halfClose(c net.Conn) {
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
		return
	}
	c.Close()
}

// Burst is a run of consecutive chunks of one connection in one direction:
// with a client that waits for each answer, a request or a response.
type Burst struct {
	Conn  int
	Dir   Direction
	Start int64
	Len   int64
}

// Mid is the offset halfway into the burst.
func (b Burst) Mid() int64 { return b.Start + b.Len/2 }

// Bursts merges a trace into bursts: the turns of the conversation, where
// a sweep of offsets should land to hit every request and every response.
func Bursts(trace []Chunk) []Burst {
	var out []Burst
	for _, c := range trace {
		if n := len(out); n > 0 && out[n-1].Conn == c.Conn && out[n-1].Dir == c.Dir && out[n-1].Start+out[n-1].Len == c.Start {
			out[n-1].Len += c.Len
			continue
		}
		out = append(out, Burst(c))
	}
	return out
}
