package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// A stream beyond one machine: nodes (merchd serve processes) that share a
// Directory relay each other's streams. A WHEP request at a node that is
// full, or that does not carry the stream, is redirected (307, which WHEP
// allows) to the least-loaded node that carries the stream or can relay
// it; a relay node pulls the stream from its origin once, over WHEP, as a
// viewer the origin does not count, and feeds the pulled tracks to its own
// viewers as a publisher's would be.

// Role is how a node carries a stream.
type Role string

// The roles.
const (
	RoleNone   Role = ""
	RoleOrigin Role = "ORIGIN" // the publisher is connected here
	RoleRelay  Role = "RELAY"  // pulled from the origin
)

// NodeInfo is another node as the directory last saw it.
type NodeInfo struct {
	// URL is the node's base URL (http://host:port).
	URL string
	// Load is the node's WHEP sessions (connecting or connected, pulls
	// included); Capacity is how many it takes.
	Load, Capacity int
	// Role is how it carries the stream asked about.
	Role Role
}

// Directory lists the other live nodes (alive: recent heartbeat) and
// vouches for pulls: a node pulls with its credential, and the origin asks
// the directory whose it is.
type Directory interface {
	Nodes(ctx context.Context, stream string) ([]NodeInfo, error)
	// PullCredential is this node's, for the PullHeader of its pulls.
	PullCredential() string
	// VerifyPull reports whether cred is a live node's credential.
	VerifyPull(ctx context.Context, cred string) (bool, error)
}

// CascadeConfig configures relaying between nodes.
type CascadeConfig struct {
	// Capacity is the WHEP sessions this node takes, across its streams,
	// before it sends new viewers to another node.
	Capacity int
	// Grace is how long a relayed stream's pull outlives its last viewer.
	Grace time.Duration
	// Check is how often a relayed stream checks that its origin is alive
	// and its viewers are there.
	Check time.Duration
}

// PullHeader marks a WHEP request from a relay node: never redirected,
// not counted as a viewer. It carries the pulling node's credential, which
// the directory checks: a viewer cannot claim to be a node.
const PullHeader = "X-Merchd-Live-Pull"

// hopParam counts redirects: a node sent a viewer here because it has room,
// so it serves if it still has; after maxHops the viewer is refused.
const (
	hopParam = "hop"
	maxHops  = 3
)

type cascade struct {
	dir    Directory
	cfg    CascadeConfig
	client *http.Client

	mu     sync.Mutex
	starts map[string]*sync.Mutex // one pull start at a time per stream
	// sent counts viewers redirected to a node since the directory last
	// reported its load, so a burst is spread rather than herded.
	sent map[string]int
	seen map[string]int // the load last reported per node
	// up and down cache probes of nodes' /healthz: a node that was killed
	// keeps a fresh-looking row for a few seconds, and its viewers are
	// coming back meanwhile.
	up, down map[string]time.Time

	admitting int // viewers admitted, not yet holding a slot (Relay.mu)
}

// EnableCascade makes this relay one node of several sharing dir.
func (r *Relay) EnableCascade(dir Directory, cfg CascadeConfig) {
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Check <= 0 {
		cfg.Check = 250 * time.Millisecond
	}
	r.cascade = &cascade{dir: dir, cfg: cfg, starts: map[string]*sync.Mutex{}, sent: map[string]int{}, seen: map[string]int{},
		up: map[string]time.Time{}, down: map[string]time.Time{}, client: &http.Client{Timeout: 10 * time.Second}}
}

// Carried is a stream this node carries, for the directory.
type Carried struct {
	Stream string
	Role   Role
	// Viewers are connected viewers here (not pulls).
	Viewers int
}

// Carried lists the streams this node carries now.
func (r *Relay) Carried() []Carried {
	r.mu.Lock()
	ss := make([]*stream, 0, len(r.streams))
	for _, s := range r.streams {
		ss = append(ss, s)
	}
	r.mu.Unlock()
	var out []Carried
	for _, s := range ss {
		if role := s.role(); role != RoleNone {
			s.mu.Lock()
			out = append(out, Carried{Stream: s.id, Role: role, Viewers: s.watching})
			s.mu.Unlock()
		}
	}
	return out
}

// Load is this node's WHEP sessions across streams, connecting or
// connected, relay pulls included, and the viewers admitted and on their
// way to a session.
func (r *Relay) Load() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *Relay) loadLocked() int {
	n := 0
	for _, s := range r.streams {
		n += s.slots
	}
	if r.cascade != nil {
		n += r.cascade.admitting
	}
	return n
}

// tryAdmit takes a place under this node's capacity for a viewer about to
// start a session: the check and the taking are one step, so a burst of
// joins cannot all see room for one.
func (r *Relay) tryAdmit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loadLocked() >= r.cascade.cfg.Capacity {
		return false
	}
	r.cascade.admitting++
	return true
}

// doneAdmit gives back tryAdmit's place (the session holds its own slot).
func (r *Relay) doneAdmit() {
	r.mu.Lock()
	r.cascade.admitting--
	r.mu.Unlock()
}

func (s *stream) role() Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.pub == nil:
		return RoleNone
	case s.pub.pulled != nil:
		return RoleRelay
	default:
		return RoleOrigin
	}
}

func (r *Relay) localRole(id string) Role {
	if s := r.lookup(id); s != nil {
		return s.role()
	}
	return RoleNone
}

// errRedirect carries where to send a viewer.
type errRedirect struct{ location string }

func (e *errRedirect) Error() string { return "live: served by " + e.location }

// route decides where a WHEP viewer of streamID is served: here (nil,
// starting a pull first when this node does not carry the stream yet) or
// another node (an *errRedirect). Served here, the viewer has been
// admitted against this node's capacity: the caller calls doneAdmit once
// View has taken (or failed to take) its slot.
func (r *Relay) route(ctx context.Context, streamID string, hops int) (admitted bool, err error) {
	c := r.cascade
	role := r.localRole(streamID)
	if role != RoleNone && r.tryAdmit() {
		return true, nil
	}
	if hops > 0 && r.tryAdmit() {
		// Sent here because this node had room: serve, pulling if need be.
		return true, r.ensurePull(ctx, streamID, nil)
	}
	nodes, err := c.dir.Nodes(ctx, streamID)
	if err != nil {
		return false, err
	}
	var origin *NodeInfo
	for i := range nodes {
		if nodes[i].Role == RoleOrigin {
			origin = &nodes[i]
		}
	}
	if origin == nil && role == RoleNone {
		return false, nil // not live anywhere: View says so
	}
	// The least-loaded node with room, counting the viewers sent its way
	// since its load was last reported; this node first on a tie. A node
	// that does not answer is passed over.
	load, capacity := r.Load(), c.cfg.Capacity
	for {
		best := c.pick(nodes, load, capacity)
		switch {
		case best < 0:
			return false, ErrStreamFull
		case best == len(nodes):
			if !r.tryAdmit() {
				load = capacity // full meanwhile: look elsewhere
				continue
			}
			if role != RoleNone {
				return true, nil
			}
			return true, r.ensurePull(ctx, streamID, origin)
		case hops >= maxHops:
			return false, ErrStreamFull
		}
		if !c.alive(ctx, nodes[best].URL) {
			nodes = append(nodes[:best:best], nodes[best+1:]...)
			continue
		}
		c.mu.Lock()
		c.sent[nodes[best].URL]++
		c.mu.Unlock()
		loc := strings.TrimRight(nodes[best].URL, "/") + "/live/" + url.PathEscape(streamID) + "/whep?" + hopParam + "=" + strconv.Itoa(hops+1)
		return false, &errRedirect{location: loc}
	}
}

// pick is the index of the least-loaded node with room, len(nodes) for
// this one, or -1 when every node is full.
func (c *cascade) pick(nodes []NodeInfo, load, capacity int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, bestLoad := -1, 0.0
	if load < capacity {
		best, bestLoad = len(nodes), float64(load)/float64(capacity)
	}
	for i, n := range nodes {
		if c.seen[n.URL] != n.Load {
			c.seen[n.URL], c.sent[n.URL] = n.Load, 0
		}
		l := n.Load + c.sent[n.URL]
		if n.Capacity <= 0 || l >= n.Capacity {
			continue
		}
		if f := float64(l) / float64(n.Capacity); best < 0 || f < bestLoad || (f == bestLoad && n.Role != RoleNone && best < len(nodes) && nodes[best].Role == RoleNone) {
			best, bestLoad = i, f
		}
	}
	return best
}

// alive probes a node's /healthz (cached: a second when up, a few when
// down).
func (c *cascade) alive(ctx context.Context, base string) bool {
	now := time.Now()
	c.mu.Lock()
	up, down := c.up[base], c.down[base]
	c.mu.Unlock()
	if now.Sub(up) < time.Second {
		return true
	}
	if now.Sub(down) < 5*time.Second {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	ok := false
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil); err == nil {
		if res, err := c.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1024))
			res.Body.Close()
			ok = res.StatusCode == http.StatusOK
		}
	}
	c.mu.Lock()
	if ok {
		c.up[base] = now
	} else {
		c.down[base] = now
	}
	c.mu.Unlock()
	return ok
}

// pull is a relay node's WHEP session at the stream's origin.
type pull struct {
	origin   string // the session's URL at the origin
	done     chan struct{}
	stopOnce sync.Once
}

// ensurePull starts relaying streamID from its origin unless this node
// already carries it. origin may be nil: the directory is asked.
func (r *Relay) ensurePull(ctx context.Context, streamID string, origin *NodeInfo) error {
	c := r.cascade
	c.mu.Lock()
	start, ok := c.starts[streamID]
	if !ok {
		start = &sync.Mutex{}
		c.starts[streamID] = start
	}
	c.mu.Unlock()
	start.Lock()
	defer start.Unlock()
	if r.localRole(streamID) != RoleNone {
		return nil
	}
	if origin == nil {
		nodes, err := c.dir.Nodes(ctx, streamID)
		if err != nil {
			return err
		}
		for i := range nodes {
			if nodes[i].Role == RoleOrigin {
				origin = &nodes[i]
			}
		}
		if origin == nil {
			return ErrNotLive
		}
	}
	return r.startPull(ctx, streamID, strings.TrimRight(origin.URL, "/"))
}

func (r *Relay) startPull(ctx context.Context, streamID, originBase string) error {
	s := r.acquire(streamID, true)
	defer r.release(s)
	pc, err := r.publishAPI.NewPeerConnection(r.peerConfig())
	if err != nil {
		return err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return err
		}
	}
	p := &pull{done: make(chan struct{})}
	sess := &session{id: newID(), pc: pc, pulled: p}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		t := s.trackFor(remote.Kind(), remote.Codec().RTPCodecCapability, r.cfg.GOPMaxPackets)
		if remote.Kind() == webrtc.RTPCodecTypeVideo && s.hasViewers() {
			s.requestKeyframe()
		}
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			t.forward(pkt)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			r.endPull(s, sess, "connection to the origin "+st.String())
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		gathered := webrtc.GatheringCompletePromise(pc)
		if err = pc.SetLocalDescription(offer); err == nil {
			select {
			case <-gathered:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	}
	if err != nil {
		_ = pc.Close()
		return err
	}
	answer, loc, err := r.postPull(ctx, originBase+"/live/"+url.PathEscape(streamID)+"/whep", pc.LocalDescription().SDP)
	if err != nil {
		_ = pc.Close()
		return err
	}
	p.origin = originBase + loc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		_ = pc.Close()
		r.deletePull(p.origin)
		return err
	}
	s.mu.Lock()
	if s.pub != nil { // a publisher came here meanwhile: it wins
		s.mu.Unlock()
		_ = pc.Close()
		r.deletePull(p.origin)
		return nil
	}
	s.pub = sess
	s.mu.Unlock()
	s.relay.acquireHold(s)
	r.log.Info("live: relaying a stream", "stream", streamID, "origin", originBase)
	go r.watchPull(s, sess)
	return nil
}

// acquireHold keeps a relayed stream's entry while its pull runs.
func (r *Relay) acquireHold(s *stream) {
	r.mu.Lock()
	s.refs++
	r.mu.Unlock()
}

func (r *Relay) postPull(ctx context.Context, u, offer string) (answer, location string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(offer))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set(PullHeader, r.cascade.dir.PullCredential())
	res, err := r.cascade.client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("live: pull from the origin: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxSDP))
	if err != nil {
		return "", "", err
	}
	switch res.StatusCode {
	case http.StatusCreated:
		return string(body), res.Header.Get("Location"), nil
	case http.StatusConflict, http.StatusNotFound:
		return "", "", ErrNotLive
	default:
		return "", "", fmt.Errorf("live: pull from the origin: %s: %s", res.Status, strings.TrimSpace(string(body)))
	}
}

func (r *Relay) deletePull(u string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return
	}
	if res, err := r.cascade.client.Do(req); err == nil {
		res.Body.Close()
	}
}

// watchPull ends a relayed stream when its origin is gone (the publisher
// ended or the node died) or when it has had no viewer for the grace
// period.
func (r *Relay) watchPull(s *stream, sess *session) {
	c := r.cascade
	t := time.NewTicker(c.cfg.Check)
	defer t.Stop()
	idleSince := time.Time{}
	for {
		select {
		case <-sess.pulled.done:
			return
		case <-t.C:
		}
		r.mu.Lock()
		slots := s.slots
		r.mu.Unlock()
		if slots > 0 {
			idleSince = time.Time{}
		} else if idleSince.IsZero() {
			idleSince = time.Now()
		} else if time.Since(idleSince) >= c.cfg.Grace {
			r.endPull(s, sess, "no viewers")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		nodes, err := c.dir.Nodes(ctx, s.id)
		cancel()
		if err != nil {
			continue // the database is briefly away: keep playing
		}
		live := false
		for _, n := range nodes {
			if n.Role == RoleOrigin && strings.HasPrefix(sess.pulled.origin, strings.TrimRight(n.URL, "/")+"/") {
				live = true
			}
		}
		if !live {
			r.endPull(s, sess, "the origin no longer carries the stream")
			return
		}
	}
}

// endPull stops relaying: the pull closes and this node's viewers of the
// stream are let go (their players come back through a node that has it).
func (r *Relay) endPull(s *stream, sess *session, why string) {
	stopped := false
	sess.pulled.stopOnce.Do(func() { stopped = true; close(sess.pulled.done) })
	if !stopped {
		return
	}
	s.mu.Lock()
	if s.pub == sess {
		s.pub = nil
	}
	s.mu.Unlock()
	_ = sess.pc.Close()
	r.log.Info("live: stopped relaying a stream", "stream", s.id, "why", why)
	s.close()
	if sess.pulled.origin != "" {
		go r.deletePull(sess.pulled.origin)
	}
	r.release(s) // the hold taken when the pull started
}

// viewOrRedirect is the WHEP POST with a cascade: a pull from another node
// is served here; a viewer is routed first.
func (r *Relay) viewOrRedirect(ctx context.Context, req *http.Request, offer string) (string, string, error) {
	streamID := req.PathValue("stream")
	if r.cascade == nil {
		return r.View(ctx, streamID, clientIP(req), offer)
	}
	if cred := req.Header.Get(PullHeader); cred != "" {
		ok, err := r.cascade.dir.VerifyPull(ctx, cred)
		switch {
		case err != nil:
			return "", "", fmt.Errorf("%w: %v", ErrUnavailable, err)
		case !ok:
			return "", "", ErrNotANode
		}
		return r.view(ctx, streamID, clientIP(req), offer, true)
	}
	if !validID(streamID) {
		return "", "", ErrNoStream
	}
	if err := r.hooks.AuthorizeViewer(ctx, streamID); err != nil {
		return "", "", err
	}
	// Routing may start a pull from the origin: only for a real offer.
	if err := checkOffer(offer); err != nil {
		return "", "", err
	}
	hops, _ := strconv.Atoi(req.URL.Query().Get(hopParam))
	hops = max(hops, 0) // a client's negative count would dodge maxHops
	admitted, err := r.route(ctx, streamID, hops)
	if admitted {
		defer r.doneAdmit()
	}
	if err != nil {
		if _, ok := isRedirect(err); !ok && !known(err) {
			// The registry or the origin failed us, not the viewer.
			err = fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return "", "", err
	}
	return r.View(ctx, streamID, clientIP(req), offer)
}

// checkOffer refuses what cannot be a viewer's offer (before any work is
// done for it): it must parse as SDP and ask for audio or video.
func checkOffer(offer string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", errBadOffer, err)
	}
	for _, m := range d.MediaDescriptions {
		if k := m.MediaName.Media; k == "video" || k == "audio" {
			return nil
		}
	}
	return fmt.Errorf("%w: no audio or video", errBadOffer)
}

// known reports whether err is one of the relay's own refusals.
func known(err error) bool {
	for _, e := range []error{ErrUnauthorized, ErrNoStream, ErrNotLive, ErrBusy, ErrStreamFull, ErrTooManyViewers, ErrNotANode, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func isRedirect(err error) (string, bool) {
	var re *errRedirect
	if errors.As(err, &re) {
		return re.location, true
	}
	return "", false
}
