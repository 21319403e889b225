package live_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/live"
	"github.com/merchd/merchd/live/livetest"
)

// rawPublisher sends H.264-shaped RTP with its own sequence numbers (3
// packets a frame, 30 fps, 50 pps audio) and counts the keyframe requests
// (PLI) the relay sends it. With everySecond a keyframe starts every 30th
// frame; otherwise only a PLI brings one (at the next frame).
type rawPublisher struct {
	pc          *webrtc.PeerConnection
	frames      atomic.Int64
	plis        atomic.Int64
	wantKey     atomic.Bool
	stop        chan struct{}
	wg          sync.WaitGroup
	everySecond bool
}

func startRawPublisher(t *testing.T, base string, everySecond bool) *rawPublisher {
	t.Helper()
	pc, err := livetest.ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPublisher{pc: pc, stop: make(chan struct{}), everySecond: everySecond}
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
						p.plis.Add(1)
						p.wantKey.Store(true)
					}
				}
			}
		}()
	}
	if code, loc := livetest.Exchange(t, pc, base+"/live/show/whip", "sk_show"); code != http.StatusCreated {
		t.Fatalf("publish: %d %s", code, loc)
	}
	t.Cleanup(p.close)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		var seq uint16
		for frame := 0; ; frame++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			key := p.wantKey.Swap(false) || (p.everySecond && frame%30 == 0)
			for i := range 3 {
				payload := make([]byte, 600)
				payload[0] = 0x41 // a non-IDR slice
				if key && i == 0 {
					payload[0] = 0x65 // an IDR slice: a keyframe starts here
				}
				seq++
				_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq,
					Timestamp: uint32(frame * 3000), Marker: i == 2}, Payload: payload})
			}
			p.frames.Add(1)
		}
	}()
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			seq++
			_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i * 960)},
				Payload: make([]byte, 120)})
		}
	}()
	return p
}

func (p *rawPublisher) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.wg.Wait()
	p.pc.Close()
}

// seqViewer is a WHEP viewer that checks what it gets: whether its first
// video packet starts a keyframe, and every gap in each track's sequence
// numbers after its first packet.
type seqViewer struct {
	pc          *webrtc.PeerConnection
	playing     chan struct{} // the first video packet arrived
	once        sync.Once
	firstIsKey  atomic.Bool
	video, gaps atomic.Int64
	videoSSRC   atomic.Uint32
	lastVideo   atomic.Uint32 // last video sequence number
	want        atomic.Int32  // a sequence number asked for again (NACK), or -1
	resent      atomic.Bool   // it arrived again
}

// watch connects a viewer; with pli it asks for a keyframe as soon as its
// video track opens, as browsers do.
func watch(api *webrtc.API, base string, pli bool) (*seqViewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &seqViewer{pc: pc, playing: make(chan struct{})}
	v.want.Store(-1)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		if video && pli {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
		}
		var last uint16
		first := true
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if !first && pkt.SequenceNumber != last+1 {
				v.gaps.Add(1)
			}
			if video {
				if w := v.want.Load(); w >= 0 && uint16(w) == pkt.SequenceNumber {
					v.resent.Store(true)
				}
				v.videoSSRC.Store(uint32(tr.SSRC()))
				v.lastVideo.Store(uint32(pkt.SequenceNumber))
				if first {
					v.firstIsKey.Store(len(pkt.Payload) > 0 && pkt.Payload[0]&0x1f == 5)
					v.once.Do(func() { close(v.playing) })
				}
				v.video.Add(1)
			}
			first, last = false, pkt.SequenceNumber
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-gathered
	resp, err := http.Post(base+"/live/show/whep", "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("WHEP: %d %s", resp.StatusCode, body)
	}
	return v, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

// storm connects n viewers at once and waits (bounded) until all play.
func storm(t *testing.T, base string, n int, pli bool) []*seqViewer {
	t.Helper()
	return stormWith(t, livetest.ClientAPI(t), base, n, pli)
}

func stormWith(t *testing.T, api *webrtc.API, base string, n int, pli bool) []*seqViewer {
	t.Helper()
	vs := make([]*seqViewer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Go(func() { vs[i], errs[i] = watch(api, base, pli) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("joiner %d: %v", i, err)
		}
		t.Cleanup(func() { vs[i].pc.Close() })
	}
	for i, v := range vs {
		select {
		case <-v.playing:
		case <-time.After(60 * time.Second): // a bound for a loaded machine, not a target
			t.Fatalf("joiner %d of %d is not playing after 60 s", i, n)
		}
	}
	return vs
}

// Joiners start at the cached keyframe: their first video packet is an
// IDR slice, and nothing is missing after it, although the stream was in
// the middle of a group of pictures when they joined.
func TestJoinersStartAtKeyframe(t *testing.T) {
	_, srv, _ := newRelay(t)
	pub := startRawPublisher(t, srv.URL, true)
	waitLong(t, "45 frames sent (mid-GOP)", func() bool { return pub.frames.Load() >= 45 })
	vs := storm(t, srv.URL, 5, false)
	frames := pub.frames.Load()
	waitLong(t, "30 more frames sent", func() bool { return pub.frames.Load() >= frames+30 })
	for i, v := range vs {
		waitLong(t, fmt.Sprintf("joiner %d receives 60 video packets", i), func() bool { return v.video.Load() >= 60 })
		if !v.firstIsKey.Load() {
			t.Errorf("joiner %d: first video packet is not a keyframe start", i)
		}
		if g := v.gaps.Load(); g != 0 {
			t.Errorf("joiner %d: %d sequence gaps", i, g)
		}
	}
	if pub.plis.Load() != 0 {
		t.Errorf("the publisher was asked for %d keyframes with one cached", pub.plis.Load())
	}
}

// A storm of joiners costs viewers already watching nothing: no sequence
// gap while 30 viewers connect at once, and every joiner starts at a
// keyframe with no gap either.
func TestJoinStormWatchersSeeNoGaps(t *testing.T) {
	_, srv, _ := newRelay(t, func(c *live.Config) { c.MaxViewersPerIP = 100 })
	pub := startRawPublisher(t, srv.URL, true)
	waitLong(t, "15 frames sent", func() bool { return pub.frames.Load() >= 15 })
	watchers := storm(t, srv.URL, 4, false)
	before := make([]int64, len(watchers))
	for i, w := range watchers {
		before[i] = w.video.Load()
	}
	joiners := storm(t, srv.URL, 30, true)
	frames := pub.frames.Load()
	waitLong(t, "30 more frames sent", func() bool { return pub.frames.Load() >= frames+30 })
	for i, w := range watchers {
		waitLong(t, fmt.Sprintf("watcher %d receives the storm's frames", i), func() bool {
			return w.video.Load()-before[i] >= 3*(frames+30-frames)
		})
		if g := w.gaps.Load(); g != 0 {
			t.Errorf("watcher %d: %d sequence gaps during the storm", i, g)
		}
	}
	for i, v := range joiners {
		if !v.firstIsKey.Load() || v.gaps.Load() != 0 {
			t.Errorf("joiner %d: starts at a keyframe %v, %d gaps", i, v.firstIsKey.Load(), v.gaps.Load())
		}
	}
}

// Keyframe requests are coalesced: 30 joiners of a stream with no cached
// keyframe, each asking for one as a browser does, reach the publisher as
// at most one request a second, and that one keyframe starts them all.
func TestJoinStormCoalescesKeyframeRequests(t *testing.T) {
	_, srv, _ := newRelay(t, func(c *live.Config) { c.MaxViewersPerIP = 100 })
	pub := startRawPublisher(t, srv.URL, false) // keyframes only when asked
	waitLong(t, "15 frames sent", func() bool { return pub.frames.Load() >= 15 })
	start := time.Now()
	joiners := storm(t, srv.URL, 30, true)
	elapsed := time.Since(start)
	plis := pub.plis.Load()
	if plis < 1 || plis > 1+int64(elapsed/time.Second) {
		t.Fatalf("30 joiners in %v made the publisher see %d keyframe requests (want 1 to %d)", elapsed, plis, 1+int64(elapsed/time.Second))
	}
	for i, v := range joiners {
		if !v.firstIsKey.Load() {
			t.Errorf("joiner %d did not start at a keyframe", i)
		}
	}
}

// A viewer's NACK is answered: the packet it asks for again arrives again
// (from the track's one buffer, not a copy per viewer). The viewer accepts
// an SRTP packet twice, to ask for one it has already had.
func TestViewerNACKIsAnswered(t *testing.T) {
	_, srv, _ := newRelay(t)
	pub := startRawPublisher(t, srv.URL, true)
	waitLong(t, "15 frames sent", func() bool { return pub.frames.Load() >= 15 })
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableSRTPReplayProtection(true)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	v := stormWith(t, api, srv.URL, 1, false)[0]
	waitLong(t, "60 video packets", func() bool { return v.video.Load() >= 60 })
	seq := uint16(v.lastVideo.Load()) - 5
	v.want.Store(int32(seq))
	nack := &rtcp.TransportLayerNack{MediaSSRC: v.videoSSRC.Load(), Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}
	if err := v.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, fmt.Sprintf("packet %d sent again", seq), v.resent.Load)
}

// waitLong is waitFor with room for a storm on a loaded (or -race) machine.
func waitLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
