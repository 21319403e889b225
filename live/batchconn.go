package live

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// batchConn is the one UDP socket under the ICE mux. While a fan-out holds
// it (hold … release), datagrams written to it by pion are copied into a
// queue; release sends the queue with one sendmmsg system call
// (ipv4.PacketConn.WriteBatch) instead of one sendmsg per viewer. Outside
// a hold every write goes straight out, so ICE, DTLS and RTCP never wait,
// and a datagram never waits longer than the fan-out of one packet (or
// until the queue holds batchMax datagrams).
type batchConn struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	on   bool // batching enabled (MERCHD_LIVE_OFF=batch turns it off)

	mu    sync.Mutex
	holds int
	cur   *batch

	flushMu sync.Mutex // one send at a time, in order; guards spare
	spare   *batch

	batches, datagrams atomic.Uint64 // sendmmsg calls and what they carried
}

// batchMax bounds a queue: one sendmmsg carries at most this many datagrams.
const batchMax = 256

// batchBuf fits any datagram the relay sends (pion's MTU is 1,200 to 1,500).
const batchBuf = 1500

type batch struct {
	msgs  []ipv4.Message
	addrs []net.UDPAddr
	ips   [][16]byte
	bufs  [][]byte
	n     int
}

func newBatch() *batch {
	b := &batch{msgs: make([]ipv4.Message, batchMax), addrs: make([]net.UDPAddr, batchMax),
		ips: make([][16]byte, batchMax), bufs: make([][]byte, batchMax)}
	slab := make([]byte, batchMax*batchBuf)
	for i := range b.msgs {
		b.bufs[i] = slab[i*batchBuf : (i+1)*batchBuf : (i+1)*batchBuf]
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// batchSet is the relay's sockets, one per local address (the ICE mux
// must not share one socket between host candidates: each candidate reads
// it on its own goroutine, and packets would overtake each other).
type batchSet []*batchConn

func (s batchSet) hold() {
	for _, c := range s {
		c.hold()
	}
}

func (s batchSet) release() {
	for _, c := range s {
		c.release()
	}
}

func (s batchSet) close() error {
	var first error
	for _, c := range s {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// listenUDP opens the relay's sockets: one on host if given, else one per
// usable local address (loopback only with it), all on port if non-zero,
// else on the first socket's ephemeral port where it is free.
func listenUDP(host string, port int, loopback bool) ([]*net.UDPConn, error) {
	var ips []net.IP
	if host != "" {
		ips = []net.IP{net.ParseIP(host)}
		if ips[0] == nil {
			return nil, fmt.Errorf("live: UDP host %q is not an IP address", host)
		}
	} else {
		ifaces, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		for _, ifc := range ifaces {
			if ifc.Flags&net.FlagUp == 0 || (ifc.Flags&net.FlagLoopback != 0 && !loopback) {
				continue
			}
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				n, ok := a.(*net.IPNet)
				if !ok || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() || (n.IP.IsLoopback() && !loopback) {
					continue
				}
				ips = append(ips, n.IP)
			}
		}
		if len(ips) == 0 {
			ips = []net.IP{net.IPv4zero}
		}
	}
	var conns []*net.UDPConn
	var firstErr error
	ephemeral := port == 0
	for _, ip := range ips {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil && ephemeral && len(conns) > 0 {
			c, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip}) // the first socket's ephemeral port is taken here
		}
		if err != nil {
			// An address that cannot be bound (say, IPv6 still in
			// duplicate address detection) is left out; none is an error.
			if firstErr == nil {
				firstErr = fmt.Errorf("live: listen on UDP %s: %w", net.JoinHostPort(ip.String(), fmt.Sprint(port)), err)
			}
			continue
		}
		if port == 0 {
			port = c.LocalAddr().(*net.UDPAddr).Port
		}
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		return nil, firstErr
	}
	return conns, nil
}

func newBatchConn(conn *net.UDPConn, on bool) *batchConn {
	c := &batchConn{conn: conn, pc: ipv4.NewPacketConn(conn), on: on}
	if on {
		c.cur, c.spare = newBatch(), newBatch()
	}
	return c
}

// hold starts queueing writes; every hold is ended by a release.
func (c *batchConn) hold() {
	if c == nil || !c.on {
		return
	}
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// release ends a hold and sends what is queued (waiting for a send in
// flight, so that what this goroutine writes next cannot overtake it).
func (c *batchConn) release() {
	if c == nil || !c.on {
		return
	}
	c.mu.Lock()
	c.holds--
	c.mu.Unlock()
	c.flush()
}

// flush sends what is queued.
func (c *batchConn) flush() {
	c.flushMu.Lock()
	c.flushLocked()
	c.flushMu.Unlock()
}

// flushLocked swaps the queue for the spare one and sends it; flushMu is
// held, so datagrams leave in the order they were written.
func (c *batchConn) flushLocked() {
	c.mu.Lock()
	b := c.cur
	if b.n == 0 {
		c.mu.Unlock()
		return
	}
	c.cur, c.spare = c.spare, b
	c.mu.Unlock()
	msgs := b.msgs[:b.n]
	c.batches.Add(1)
	c.datagrams.Add(uint64(b.n))
	for len(msgs) > 0 {
		n, err := c.pc.WriteBatch(msgs, 0)
		if err != nil {
			n = max(n, 0) + 1 // the datagram the kernel refused is lost, as UDP may lose it
		}
		msgs = msgs[min(max(n, 1), len(msgs)):]
	}
	b.n = 0
}

// WriteToAddrPort queues b for addr during a hold, or sends it at once.
// The ICE mux writes through it (ice.AddrPortReaderWriter), allocation-free.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if !c.on || len(b) > batchBuf {
		return c.conn.WriteToUDPAddrPort(b, addr)
	}
	c.mu.Lock()
	for c.cur.n == batchMax && c.holds > 0 { // full, its flush not begun yet
		c.mu.Unlock()
		c.flush()
		c.mu.Lock()
	}
	if c.holds == 0 {
		c.mu.Unlock()
		// After anything queued or in flight: order is kept per socket.
		c.flushMu.Lock()
		defer c.flushMu.Unlock()
		c.flushLocked()
		return c.conn.WriteToUDPAddrPort(b, addr)
	}
	q := c.cur
	i := q.n
	q.n++
	q.msgs[i].Buffers[0] = q.bufs[i][:copy(q.bufs[i], b)] // pion reuses b once we return
	a := &q.addrs[i]
	q.ips[i] = addr.Addr().As16()
	if addr.Addr().Is4() || addr.Addr().Is4In6() {
		a.IP = q.ips[i][12:16]
	} else {
		a.IP = q.ips[i][:]
	}
	a.Port, a.Zone = int(addr.Port()), ""
	full := q.n == batchMax
	c.mu.Unlock()
	if full {
		c.flush()
	}
	return len(b), nil
}

// ReadFromAddrPort reads the next datagram (ice.AddrPortReaderWriter).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.conn.ReadFromUDPAddrPort(b)
}

func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.conn.ReadFrom(b) }

func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if u, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, u.AddrPort())
	}
	return c.conn.WriteTo(b, addr)
}

func (c *batchConn) Close() error                       { return c.conn.Close() }
func (c *batchConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *batchConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *batchConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
