package live

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Errors the hooks return; the HTTP layer maps them to status codes.
var (
	ErrUnauthorized = errors.New("live: wrong or missing stream key")
	ErrNoStream     = errors.New("live: no such stream")
	ErrNotLive      = errors.New("live: stream is not live")
	ErrBusy         = errors.New("live: stream already has a publisher")
	// ErrStreamFull refuses a viewer of a stream at its viewer cap.
	ErrStreamFull = errors.New("live: stream has as many viewers as it can take")
	// ErrTooManyViewers refuses a viewer from an address at its cap.
	ErrTooManyViewers = errors.New("live: too many viewers from one address")
	// ErrNotANode refuses a pull whose credential names no live node.
	ErrNotANode = errors.New("live: not a live node of this shop")
	// ErrUnavailable is a viewer this node could not route or relay right
	// now (the node registry or the origin did not answer): try again.
	ErrUnavailable = errors.New("live: relaying is unavailable right now")
)

// maxIDLen bounds stream and session ids; real ones are 24 to 30 bytes.
const maxIDLen = 64

// validID reports whether s can be a stream or session id: 1 to 64 bytes of
// the URL-safe base64 alphabet (merchd's global ids and session ids).
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Hooks connect the relay to the shop.
type Hooks interface {
	// AuthorizePublisher checks a stream key (ErrUnauthorized, ErrNoStream).
	AuthorizePublisher(ctx context.Context, stream, key string) error
	// AuthorizeViewer checks the stream exists (ErrNoStream).
	AuthorizeViewer(ctx context.Context, stream string) error
	// Live reports a stream going live (true) or idle (false).
	Live(stream string, live bool)
	// Viewers reports a stream's viewer count.
	Viewers(stream string, n int)
}

// udpBuffer is the shared socket's receive and send buffer size.
const udpBuffer = 4 << 20

// Relay forwards each stream's media from its publisher to its viewers.
type Relay struct {
	cfg        Config
	hooks      Hooks
	log        *slog.Logger
	publishAPI *webrtc.API
	viewAPI    *webrtc.API
	udp        batchSet // every session's media: one socket per local address (ICE UDP mux)
	levers     levers
	handshakes chan struct{} // DTLS handshakes in progress (Config.MaxHandshakes)
	// cert is one DTLS certificate for every session: generating a key per
	// PeerConnection is the costliest part of a join, and a join storm is
	// exactly when the relay can least afford it.
	cert webrtc.Certificate

	// mu guards streams, each stream's refs and slots, and perIP. It is
	// taken before a stream's own lock, never after.
	mu      sync.Mutex
	streams map[string]*stream
	perIP   map[string]int // WHEP sessions per client address

	cascade *cascade // nil: this node serves only its own publishers

	stopReports chan struct{} // ends sendReports (levers.direct)
	closeOnce   sync.Once
}

// New starts a relay.
func New(cfg Config, hooks Hooks, log *slog.Logger) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, hooks: hooks, log: log, streams: map[string]*stream{}, perIP: map[string]int{}}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, err
	}
	r.cert = *cert
	se := webrtc.SettingEngine{LoggerFactory: slogFactory{log}}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	r.levers = leversFromEnv()
	// All sessions share one UDP socket per local address (an ephemeral
	// port unless Config.UDPPort names one), so a fan-out's datagrams can
	// leave in one sendmmsg.
	conns, err := listenUDP(cfg.UDPHost, cfg.UDPPort, cfg.IncludeLoopback)
	if err != nil {
		return nil, err
	}
	muxes := make([]ice.UDPMux, len(conns))
	for i, udp := range conns {
		// One socket carries many sessions: give it room for a burst (a
		// join storm's handshakes, a publisher's keyframe) while its one
		// reader is busy. The kernel caps both at net.core.[rw]mem_max.
		_ = udp.SetReadBuffer(udpBuffer)
		_ = udp.SetWriteBuffer(udpBuffer)
		bc := newBatchConn(udp, r.levers.batch)
		r.udp = append(r.udp, bc)
		muxes[i] = ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: slogFactory{log}.NewLogger("icemux"), UDPConn: bc})
	}
	se.SetICEUDPMux(ice.NewMultiUDPMuxDefault(muxes...))
	if r.levers.gcm {
		// AES-128-GCM: authenticated encryption in one pass, with fewer
		// rounds than pion's default first choice, AES-256-GCM.
		se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	}
	if r.levers.handshakes {
		r.handshakes = make(chan struct{}, cfg.MaxHandshakes)
		se.SetDTLSConnectContextMaker(r.handshakeSlot)
	}
	// Publishers: ask for retransmissions of what we lost.
	if r.publishAPI, err = newAPI(se, func(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
		return webrtc.RegisterDefaultInterceptors(m, ir)
	}); err != nil {
		return nil, err
	}
	// Viewers: resend from a small per-track buffer only; RTCP reports.
	viewSE := se
	if r.levers.dtls {
		// The relay answers viewers as the DTLS server and skips the
		// cookie exchange (HelloVerifyRequest): ICE's connectivity checks
		// have already proved the viewer owns its address, which is what
		// the cookie is for. A join takes one round trip fewer, and a
		// handshake slot is held that much shorter.
		if err := viewSE.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
			return nil, err
		}
		viewSE.SetDTLSInsecureSkipHelloVerify(true)
	}
	if r.viewAPI, err = newAPI(viewSE, func(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
		if r.levers.nack {
			// NACKs are answered from the track's own buffer (readRTCP):
			// pion's responder would copy every packet for every viewer.
			m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
			m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
		} else if err := webrtc.ConfigureNackWithOptions(m, ir, nil, nack.ResponderSize(cfg.NACKBuffer)); err != nil {
			return err
		}
		if r.levers.direct {
			// No interceptor on the write path: the relay sends the
			// sender reports itself (sendReports). Viewers send no media,
			// so there is nothing to send receiver reports about.
			return nil
		}
		return webrtc.ConfigureRTCPReports(ir)
	}); err != nil {
		return nil, err
	}
	if r.levers.direct {
		r.stopReports = make(chan struct{})
		go r.sendReports(r.stopReports)
	}
	return r, nil
}

func newAPI(se webrtc.SettingEngine, interceptors func(*webrtc.MediaEngine, *interceptor.Registry) error) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := interceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Close ends every session and releases the UDP port.
func (r *Relay) Close() error {
	r.mu.Lock()
	streams := make([]*stream, 0, len(r.streams))
	for _, s := range r.streams {
		streams = append(streams, s)
	}
	r.mu.Unlock()
	for _, s := range streams {
		s.close()
	}
	r.closeOnce.Do(func() {
		if r.stopReports != nil {
			close(r.stopReports)
		}
	})
	return r.udp.close()
}

// handshakeSlot waits for one of Config.MaxHandshakes DTLS handshake slots
// (pion calls it just before a handshake, on the session's own goroutine)
// and frees it when the handshake ends: a join storm queues its
// handshakes instead of starving the fan-out of CPU, and none fails.
func (r *Relay) handshakeSlot() (context.Context, func()) {
	r.handshakes <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	return ctx, func() {
		cancel()
		<-r.handshakes
	}
}

// acquire returns the stream's entry, creating it when create is set
// (only an authorized publisher creates one), and holds it until release.
// Without create an unknown stream is nil: requests from anybody must not
// grow the registry.
func (r *Relay) acquire(id string, create bool) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[id]
	if !ok {
		if !create {
			return nil
		}
		s = &stream{id: id, relay: r, viewers: map[string]*viewer{}}
		r.streams[id] = s
	}
	s.refs++
	return s
}

// release ends an acquire and frees the entry if nothing uses it.
func (r *Relay) release(s *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.refs--
	r.tidyLocked(s)
}

// lookup is the stream's entry, or nil; it never creates one.
func (r *Relay) lookup(id string) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[id]
}

// tidy frees a stream's entry once it has no publisher, no viewer
// (connected or connecting) and no request in flight.
func (r *Relay) tidy(s *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tidyLocked(s)
}

func (r *Relay) tidyLocked(s *stream) {
	if s.refs > 0 || s.slots > 0 || r.streams[s.id] != s {
		return
	}
	s.mu.Lock()
	idle := s.pub == nil && len(s.viewers) == 0
	s.mu.Unlock()
	if idle {
		delete(r.streams, s.id)
	}
}

// reserve takes a viewer slot on s for ip, or refuses at either cap.
func (r *Relay) reserve(s *stream, ip string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.slots >= r.cfg.MaxViewers {
		return ErrStreamFull
	}
	if r.perIP[ip] >= r.cfg.MaxViewersPerIP {
		return ErrTooManyViewers
	}
	s.slots++
	r.perIP[ip]++
	return nil
}

// unreserve gives back a slot taken by reserve.
func (r *Relay) unreserve(s *stream, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.slots--
	if r.perIP[ip]--; r.perIP[ip] <= 0 {
		delete(r.perIP, ip)
	}
	r.tidyLocked(s)
}

// Streams is how many stream entries the relay holds (for tests and
// metrics): streams with a publisher, a viewer or a request in flight.
func (r *Relay) Streams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}

// Viewers is a stream's current viewer count: connected viewers only.
func (r *Relay) Viewers(id string) int {
	s := r.lookup(id)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watching
}

// MediaTime is the publisher's media clock for a live stream: the video
// track's latest RTP timestamp, in seconds since the session began. An
// overlay event stamped with it lines up with the frame shown then.
func (r *Relay) MediaTime(id string) (float64, bool) {
	t := r.liveVideo(id)
	if t == nil {
		return 0, false
	}
	return t.mediaTime()
}

// RTPTimestamp is the live video track's latest RTP timestamp.
func (r *Relay) RTPTimestamp(id string) (uint32, bool) {
	t := r.liveVideo(id)
	if t == nil {
		return 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastTS, t.started
}

// liveVideo is the video track of a stream while it has a publisher, or nil.
func (r *Relay) liveVideo(id string) *track {
	s := r.lookup(id)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub == nil {
		return nil
	}
	for _, t := range s.tracks {
		if t.kind == webrtc.RTPCodecTypeVideo {
			return t
		}
	}
	return nil
}

// stream is one broadcast: at most one publisher, any number of viewers.
// Its tracks outlive a publisher's reconnect, so viewers keep playing.
type stream struct {
	id    string
	relay *Relay
	refs  int // requests holding the entry (Relay.mu)
	slots int // viewer slots taken, connected or not (Relay.mu)

	mu       sync.Mutex
	pub      *session
	tracks   []*track
	viewers  map[string]*viewer // every WHEP session, connecting or connected
	watching int                // connected viewers
	lastPLI  time.Time
}

type session struct {
	id string
	pc *webrtc.PeerConnection
	// pulled: the stream's media comes from another node (cascade.go),
	// not from a WHIP publisher here.
	pulled *pull
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// track is one of the publisher's media tracks, fanned out to viewers.
type track struct {
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecCapability
	id     string
	maxGOP int
	out    batchSet // the relay's sockets (hold/release around a fan-out)
	inline bool     // write from forward (levers.inline)
	// sent is the last packets by sequence number (Config.NACKBuffer, a
	// power of two; video with levers.nack): every viewer's NACKs are
	// answered from this one buffer. Guarded by mu.
	sent []*rtp.Packet

	mu      sync.Mutex
	gop     []*rtp.Packet // from the last keyframe (video)
	caching bool
	subs    atomic.Pointer[[]*viewerTrack] // copy-on-write for the hot path
	firstTS uint32
	lastTS  uint32
	lastAt  time.Time // when lastTS first arrived (sender reports)
	started bool
	clock   uint32

	received atomic.Uint64
}

func (t *track) mediaTime() (float64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started || t.clock == 0 {
		return 0, false
	}
	return float64(t.lastTS-t.firstTS) / float64(t.clock), true
}

// forward caches one packet and hands it to every viewer, never waiting
// on one. Inline (the default), it writes the packet to each viewer from
// this goroutine inside one hold of the batching socket, so the whole
// fan-out leaves in a few sendmmsg calls; a viewer still catching up on
// the cached keyframe gets it queued instead. Otherwise each viewer
// track's goroutine takes it from a queue; a full queue drops it for that
// viewer only.
func (t *track) forward(pkt *rtp.Packet) {
	t.received.Add(1)
	t.mu.Lock()
	if !t.started {
		t.firstTS, t.started = pkt.Timestamp, true
	}
	if pkt.Timestamp != t.lastTS || t.lastAt.IsZero() {
		t.lastAt = time.Now()
	}
	t.lastTS = pkt.Timestamp
	if t.kind == webrtc.RTPCodecTypeVideo {
		if isKeyframeStart(t.codec.MimeType, pkt) {
			t.gop = t.gop[:0:0]
			t.caching = true
		}
		if t.caching {
			if len(t.gop) < t.maxGOP {
				t.gop = append(t.gop, pkt)
			} else {
				t.caching = false // too long a GOP: wait for the next keyframe
				t.gop = nil
			}
		}
	}
	if t.sent != nil {
		t.sent[int(pkt.SequenceNumber)&(len(t.sent)-1)] = pkt
	}
	// Viewers as of this packet, read under the lock that subscribe holds
	// while it copies the cache: a viewer gets pkt in its snapshot or from
	// this fan-out, never both.
	subs := t.subs.Load()
	t.mu.Unlock()
	if subs == nil {
		return
	}
	if !t.inline {
		for _, vt := range *subs {
			select {
			case vt.q <- pkt:
			default:
				vt.dropped.Add(1)
			}
		}
		return
	}
	t.out.hold()
	for _, vt := range *subs {
		vt.deliver(pkt)
	}
	t.out.release()
}

// subscribe adds a viewer track and returns the cached GOP to send first;
// both happen under one lock, so no packet is missed or sent twice.
func (t *track) subscribe(vt *viewerTrack) []*rtp.Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	var snapshot []*rtp.Packet
	if t.caching {
		snapshot = append(snapshot, t.gop...)
	}
	if t.inline && t.kind == webrtc.RTPCodecTypeVideo && len(snapshot) == 0 {
		vt.waitKey = true // before forward can see vt
	}
	old := t.subs.Load()
	var next []*viewerTrack
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, vt)
	t.subs.Store(&next)
	return snapshot
}

func (t *track) unsubscribe(vt *viewerTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.subs.Load()
	if old == nil {
		return
	}
	next := make([]*viewerTrack, 0, len(*old))
	for _, x := range *old {
		if x != vt {
			next = append(next, x)
		}
	}
	t.subs.Store(&next)
}

// resend is the packet with sequence number seq if still buffered.
func (t *track) resend(seq uint16) *rtp.Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sent == nil {
		return nil
	}
	if p := t.sent[int(seq)&(len(t.sent)-1)]; p != nil && p.SequenceNumber == seq {
		return p
	}
	return nil
}

func (t *track) hasKeyframe() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.caching && len(t.gop) > 0
}

// viewerLocal is a viewer's outgoing track: a *directTrack
// (levers.direct) or pion's TrackLocalStaticRTP.
type viewerLocal interface {
	webrtc.TrackLocal
	WriteRTP(*rtp.Packet) error
}

// viewer is one WHEP session.
type viewer struct {
	id     string
	ip     string
	pc     *webrtc.PeerConnection
	tracks []*viewerTrack
	done   chan struct{}
	timer  *time.Timer // closes the session if it never connects

	pull bool // another node relaying the stream, not a viewer

	// Guarded by the stream's mu.
	connected bool
	dropped   bool
}

// viewerTrack is one track on its way to one viewer. Inline, forward
// writes to it directly once it has caught up (live); until then a
// short-lived goroutine sends the cached keyframe and whatever arrived
// meanwhile (backlog). Otherwise it has its own writer goroutine and queue:
// a slow viewer delays only itself.
type viewerTrack struct {
	src     *track
	local   viewerLocal
	q       chan *rtp.Packet // goroutine per viewer track (levers.inline off)
	limit   int              // backlog bound (Config.ViewerQueue)
	live    atomic.Bool      // caught up: forward writes directly
	mu      sync.Mutex       // guards backlog and the switch to live
	backlog []*rtp.Packet
	waitKey bool // video with no cached keyframe: start at the next one
	pace    bool // catch up at a bounded rate (levers.pace)
	dropped atomic.Uint64
	sent    atomic.Uint64
	resent  atomic.Uint64 // answers to NACKs
}

// deliver writes pkt to the viewer, or queues it while the viewer is
// still catching up, or skips it while the viewer waits for a keyframe.
// Only forward calls it, one packet at a time.
func (vt *viewerTrack) deliver(pkt *rtp.Packet) {
	if !vt.live.Load() {
		vt.mu.Lock()
		if !vt.live.Load() {
			if !vt.waitKey {
				if len(vt.backlog) < vt.limit {
					vt.backlog = append(vt.backlog, pkt)
				} else {
					vt.dropped.Add(1)
				}
				vt.mu.Unlock()
				return
			}
			if !isKeyframeStart(vt.src.codec.MimeType, pkt) {
				vt.mu.Unlock()
				return // undecodable without the keyframe it follows
			}
			vt.waitKey = false
			vt.live.Store(true)
		}
		vt.mu.Unlock()
	}
	if vt.local.WriteRTP(pkt) == nil {
		vt.sent.Add(1)
	}
}

// start sends the cached keyframe and then follows the stream.
func (vt *viewerTrack) start(done <-chan struct{}, snapshot []*rtp.Packet) {
	if !vt.src.inline {
		go vt.run(done, snapshot)
		return
	}
	if len(snapshot) == 0 {
		vt.mu.Lock()
		if vt.waitKey || vt.live.Load() {
			vt.mu.Unlock()
			return // forward starts it at the next keyframe
		}
		if len(vt.backlog) == 0 {
			vt.live.Store(true)
			vt.mu.Unlock()
			return
		}
		vt.mu.Unlock()
	}
	go vt.catchUp(done, snapshot)
}

// catchUpChunk is how many packets a catch-up writes per sendmmsg.
const catchUpChunk = 32

// Paced (levers.pace), a catch-up writes pacedChunk packets every
// pacedEvery: ~1,600 packets a second, six times a 2 Mbps stream's rate,
// so a one-second keyframe cache is through in about 130 ms, while no
// more than 16 datagrams (~20 KB) reach the joiner's socket at once.
// Unpaced, a storm of joiners gets every cached packet at once, each a
// burst larger than a default socket receive buffer (208 KiB on Linux).
const (
	pacedChunk = 16
	pacedEvery = 10 * time.Millisecond
)

// catchUp writes the snapshot, then the backlog forward queued meanwhile,
// until the backlog is empty; then forward takes over (under vt.mu, so no
// packet is sent twice or skipped, and the order holds).
func (vt *viewerTrack) catchUp(done <-chan struct{}, pkts []*rtp.Packet) {
	out := vt.src.out
	chunkSize := catchUpChunk
	var tick *time.Ticker
	if vt.pace {
		chunkSize = pacedChunk
		tick = time.NewTicker(pacedEvery)
		defer tick.Stop()
	}
	for {
		for len(pkts) > 0 {
			select {
			case <-done:
				return
			default:
			}
			chunk := pkts[:min(chunkSize, len(pkts))]
			pkts = pkts[len(chunk):]
			out.hold()
			for _, p := range chunk {
				if vt.local.WriteRTP(p) == nil {
					vt.sent.Add(1)
				}
			}
			out.release()
			if tick != nil && len(pkts) > 0 {
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		}
		vt.mu.Lock()
		if len(vt.backlog) == 0 {
			vt.backlog = nil
			vt.live.Store(true)
			vt.mu.Unlock()
			return
		}
		pkts, vt.backlog = vt.backlog, nil
		vt.mu.Unlock()
	}
}

func (vt *viewerTrack) run(done <-chan struct{}, snapshot []*rtp.Packet) {
	for _, p := range snapshot {
		if err := vt.local.WriteRTP(p); err != nil {
			return
		}
		vt.sent.Add(1)
	}
	for {
		select {
		case <-done:
			return
		case p := <-vt.q:
			if err := vt.local.WriteRTP(p); err != nil && !errors.Is(err, net.ErrClosed) {
				continue
			}
			vt.sent.Add(1)
		}
	}
}

// requestKeyframe asks the publisher for a keyframe, at most once a second
// per stream however many viewers join.
func (s *stream) requestKeyframe() {
	s.mu.Lock()
	pub := s.pub
	if pub == nil || time.Since(s.lastPLI) < time.Second {
		s.mu.Unlock()
		return
	}
	s.lastPLI = time.Now()
	var ssrcs []uint32
	for _, r := range pub.pc.GetReceivers() {
		if r.Track() != nil && r.Track().Kind() == webrtc.RTPCodecTypeVideo {
			ssrcs = append(ssrcs, uint32(r.Track().SSRC()))
		}
	}
	s.mu.Unlock()
	for _, ssrc := range ssrcs {
		_ = pub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

func (s *stream) close() {
	s.mu.Lock()
	pub := s.pub
	viewers := make([]*viewer, 0, len(s.viewers))
	for _, v := range s.viewers {
		viewers = append(viewers, v)
	}
	s.mu.Unlock()
	if pub != nil {
		_ = pub.pc.Close()
	}
	for _, v := range viewers {
		s.dropViewer(v, false)
	}
}
