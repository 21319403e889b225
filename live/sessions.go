package live

import (
	"context"
	"errors"
	"fmt"
	"github.com/pion/rtp"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

func (r *Relay) peerConfig() webrtc.Configuration {
	return webrtc.Configuration{ICEServers: r.cfg.ICEServers, Certificates: []webrtc.Certificate{r.cert}}
}

// Publish starts (or resumes) a stream from a WHIP offer and returns the
// answer and the session id. A live stream refuses a second publisher,
// unless the first one's connection has failed (a reconnect).
func (r *Relay) Publish(ctx context.Context, streamID, key, offer string) (answer, sessionID string, err error) {
	if !validID(streamID) {
		return "", "", ErrNoStream
	}
	if err := r.hooks.AuthorizePublisher(ctx, streamID, key); err != nil {
		return "", "", err
	}
	s := r.acquire(streamID, true)
	defer r.release(s)
	s.mu.Lock()
	if s.pub != nil {
		switch s.pub.pc.ConnectionState() {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			old := s.pub
			s.pub = nil
			s.mu.Unlock()
			_ = old.pc.Close()
			s.mu.Lock()
		default:
			s.mu.Unlock()
			return "", "", ErrBusy
		}
	}
	pc, err := r.publishAPI.NewPeerConnection(r.peerConfig())
	if err != nil {
		s.mu.Unlock()
		return "", "", err
	}
	sess := &session{id: newID(), pc: pc}
	s.pub = sess
	s.mu.Unlock()

	fail := func(err error) (string, string, error) {
		s.mu.Lock()
		if s.pub == sess {
			s.pub = nil
		}
		s.mu.Unlock()
		_ = pc.Close()
		return "", "", err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail(err)
		}
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		t := s.trackFor(remote.Kind(), remote.Codec().RTPCodecCapability, r.cfg.GOPMaxPackets)
		if remote.Kind() == webrtc.RTPCodecTypeVideo && s.hasViewers() {
			s.requestKeyframe() // viewers are waiting for a picture
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
		switch st {
		case webrtc.PeerConnectionStateConnected:
			r.hooks.Live(streamID, true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.mu.Lock()
			mine := s.pub == sess
			if mine {
				s.pub = nil
			}
			s.mu.Unlock()
			if mine {
				r.hooks.Live(streamID, false)
				r.tidy(s)
			}
		}
	})
	ans, err := negotiate(ctx, pc, offer)
	if err != nil {
		return fail(err)
	}
	return ans, sess.id, nil
}

// EndPublish ends a publisher's session (WHIP DELETE).
func (r *Relay) EndPublish(streamID, sessionID string) error {
	if !validID(streamID) || !validID(sessionID) {
		return ErrNoStream
	}
	s := r.lookup(streamID)
	if s == nil {
		return ErrNoStream
	}
	s.mu.Lock()
	sess := s.pub
	if sess == nil || sess.id != sessionID {
		s.mu.Unlock()
		return ErrNoStream
	}
	s.pub = nil
	s.mu.Unlock()
	err := sess.pc.Close()
	r.hooks.Live(streamID, false)
	r.tidy(s)
	return err
}

// trackFor returns the stream's track of this kind, reusing it across a
// publisher's reconnect so viewers keep their connection.
func (s *stream) trackFor(kind webrtc.RTPCodecType, codec webrtc.RTPCodecCapability, maxGOP int) *track {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tracks {
		if t.kind == kind && t.codec.MimeType == codec.MimeType {
			t.mu.Lock()
			t.started, t.caching, t.gop = false, false, nil // a new session: new clock, new keyframe
			t.mu.Unlock()
			return t
		}
	}
	t := &track{kind: kind, codec: codec, id: kind.String(), maxGOP: maxGOP, clock: codec.ClockRate,
		out: s.relay.udp, inline: s.relay.levers.inline}
	if kind == webrtc.RTPCodecTypeVideo && s.relay.levers.nack {
		t.sent = make([]*rtp.Packet, s.relay.cfg.NACKBuffer)
	}
	s.tracks = append(s.tracks, t)
	return t
}

func (s *stream) hasViewers() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.viewers) > 0
}

// View starts a WHEP viewer of a live stream for a client at clientIP.
// The viewer plays from the cached keyframe at once; only if none is cached
// yet is the publisher asked for one (at most once a second for everybody).
// The session takes one of the stream's and one of the address's viewer
// slots at once, but counts as a viewer only once it connects; one that has
// not connected within Config.ViewerConnectTimeout is closed.
func (r *Relay) View(ctx context.Context, streamID, clientIP, offer string) (answer, sessionID string, err error) {
	return r.view(ctx, streamID, clientIP, offer, false)
}

// view is View; a pull is another node relaying the stream (cascade.go):
// it gets the media like a viewer but is not counted as one.
func (r *Relay) view(ctx context.Context, streamID, clientIP, offer string, pull bool) (answer, sessionID string, err error) {
	if !validID(streamID) {
		return "", "", ErrNoStream
	}
	if err := r.hooks.AuthorizeViewer(ctx, streamID); err != nil {
		return "", "", err
	}
	s := r.acquire(streamID, false)
	if s == nil {
		return "", "", ErrNotLive // no publisher has ever been here
	}
	defer r.release(s)
	if err := r.reserve(s, clientIP); err != nil {
		return "", "", err
	}
	owned := false // once registered, the viewer gives its slot back
	defer func() {
		if !owned {
			r.unreserve(s, clientIP)
		}
	}()
	tracks, err := s.waitForTracks(ctx)
	if err != nil {
		return "", "", err
	}
	pc, err := r.viewAPI.NewPeerConnection(r.peerConfig())
	if err != nil {
		return "", "", err
	}
	v := &viewer{id: newID(), ip: clientIP, pc: pc, done: make(chan struct{}), pull: pull}
	for _, t := range tracks {
		var local viewerLocal
		if r.levers.direct {
			local, err = newDirectTrack(t.codec, t.id, "merchd")
		} else {
			local, err = webrtc.NewTrackLocalStaticRTP(t.codec, t.id, "merchd")
		}
		if err != nil {
			_ = pc.Close()
			return "", "", err
		}
		sender, err := pc.AddTrack(local)
		if err != nil {
			_ = pc.Close()
			return "", "", err
		}
		vt := &viewerTrack{src: t, local: local, limit: r.cfg.ViewerQueue, pace: r.levers.pace}
		if !t.inline {
			vt.q = make(chan *rtp.Packet, r.cfg.ViewerQueue)
		}
		v.tracks = append(v.tracks, vt)
		go s.readRTCP(sender, vt, v.done)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connect(v)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.dropViewer(v, false)
		}
	})
	if r.levers.prune {
		mimes := make([]string, len(tracks))
		for i, t := range tracks {
			mimes[i] = t.codec.MimeType
		}
		offer = pruneOffer(offer, mimes)
	}
	ans, err := negotiate(ctx, pc, offer)
	if err != nil {
		_ = pc.Close()
		return "", "", err
	}
	s.mu.Lock()
	if v.dropped { // failed before it was registered
		s.mu.Unlock()
		_ = pc.Close()
		return "", "", fmt.Errorf("%w: the connection closed during negotiation", errBadOffer)
	}
	s.viewers[v.id] = v
	owned = true
	v.timer = time.AfterFunc(r.cfg.ViewerConnectTimeout, func() { s.dropViewer(v, true) })
	s.mu.Unlock()
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		s.connect(v) // connected before it was registered (connect is once only)
	}
	return ans, v.id, nil
}

// connect counts a viewer whose connection is up and starts its media.
func (s *stream) connect(v *viewer) {
	s.mu.Lock()
	if v.connected || v.dropped || s.viewers[v.id] != v {
		s.mu.Unlock()
		return
	}
	v.connected = true
	if !v.pull {
		s.watching++
	}
	n := s.watching
	needKey := false
	// Subscribing under the stream's lock: a concurrent drop either sees
	// the subscriptions or keeps them from being made.
	for _, vt := range v.tracks {
		snapshot := vt.src.subscribe(vt)
		if vt.src.kind == webrtc.RTPCodecTypeVideo && len(snapshot) == 0 {
			needKey = true
		}
		vt.start(v.done, snapshot)
	}
	timer := v.timer
	s.mu.Unlock()
	timer.Stop()
	if needKey {
		s.requestKeyframe()
	}
	s.relay.hooks.Viewers(s.id, n)
}

// waitForTracks returns the publisher's tracks; a publisher that has just
// connected gets a moment for its first packets, so early viewers need not
// be turned away.
func (s *stream) waitForTracks(ctx context.Context) ([]*track, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		pub, tracks := s.pub, append([]*track(nil), s.tracks...)
		s.mu.Unlock()
		if pub == nil {
			return nil, ErrNotLive
		}
		// Wait for every track the publisher announced (video and audio),
		// not just the first to send a packet.
		announced := 0
		for _, rcv := range pub.pc.GetReceivers() {
			if rcv.Track() != nil {
				announced++
			}
		}
		if (announced > 0 && len(tracks) >= announced) || time.Now().After(deadline) {
			if len(tracks) == 0 {
				return nil, ErrNotLive
			}
			return tracks, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readRTCP forwards a viewer's keyframe requests (rate-limited), answers
// its NACKs from the track's buffer (levers.nack) and otherwise drains the
// RTCP the interceptors need read.
func (s *stream) readRTCP(sender *webrtc.RTPSender, vt *viewerTrack, done <-chan struct{}) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.requestKeyframe()
			case *rtcp.TransportLayerNack:
				if !vt.live.Load() {
					break // still catching up: what it misses is on its way
				}
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						if pkt := vt.src.resend(seq); pkt != nil && vt.local.WriteRTP(pkt) == nil {
							vt.resent.Add(1)
						}
						return true
					})
				}
			}
		}
		select {
		case <-done:
			return
		default:
		}
	}
}

// EndView ends a viewer's session (WHEP DELETE).
func (r *Relay) EndView(streamID, sessionID string) error {
	if !validID(streamID) || !validID(sessionID) {
		return ErrNoStream
	}
	s := r.lookup(streamID)
	if s == nil {
		return ErrNoStream
	}
	s.mu.Lock()
	v, ok := s.viewers[sessionID]
	s.mu.Unlock()
	if !ok {
		return ErrNoStream
	}
	s.dropViewer(v, false)
	return nil
}

// dropViewer ends a viewer's session once, gives its slots back and frees
// the stream's entry if that was the last use. With onlyConnecting it
// leaves a connected viewer alone (the connect timeout).
func (s *stream) dropViewer(v *viewer, onlyConnecting bool) {
	s.mu.Lock()
	if v.dropped || (onlyConnecting && v.connected) {
		s.mu.Unlock()
		return
	}
	v.dropped = true
	registered := s.viewers[v.id] == v
	if !registered {
		s.mu.Unlock()
		return // View has not handed it out yet and cleans up itself
	}
	delete(s.viewers, v.id)
	wasConnected := v.connected && !v.pull
	if wasConnected {
		s.watching--
	}
	n := s.watching
	timer := v.timer
	s.mu.Unlock()
	timer.Stop()
	close(v.done)
	for _, vt := range v.tracks {
		vt.src.unsubscribe(vt)
	}
	_ = v.pc.Close()
	s.relay.unreserve(s, v.ip)
	if wasConnected {
		s.relay.hooks.Viewers(s.id, n)
	}
}

// AddCandidate adds a trickled ICE candidate to a session (WHIP/WHEP PATCH).
func (r *Relay) AddCandidate(streamID, sessionID, candidate string) error {
	pc, err := r.sessionPC(streamID, sessionID)
	if err != nil {
		return err
	}
	return pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: candidate})
}

// sessionPC is a publisher's or viewer's connection, or ErrNoStream.
func (r *Relay) sessionPC(streamID, sessionID string) (*webrtc.PeerConnection, error) {
	if !validID(streamID) || !validID(sessionID) {
		return nil, ErrNoStream
	}
	s := r.lookup(streamID)
	if s == nil {
		return nil, ErrNoStream
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil && s.pub.id == sessionID {
		return s.pub.pc, nil
	}
	if v, ok := s.viewers[sessionID]; ok {
		return v.pc, nil
	}
	return nil, ErrNoStream
}

// negotiate answers an offer with every candidate included (WHIP/WHEP
// clients expect a complete answer).
func negotiate(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		// Starting the answer's tracks fails when the offer takes none of
		// the stream's codecs (a VP8-only player of an H.264 stream): the
		// offer's fault, not the relay's.
		return "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

var errBadOffer = errors.New("live: unusable SDP offer")
