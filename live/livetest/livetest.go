// Package livetest has WebRTC peers for tests and benchmarks: a WHIP
// publisher sending H.264-shaped video and Opus, and WHEP viewers that
// count what arrives.
package livetest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// ClientAPI is a pion API for test peers on loopback.
func ClientAPI(t testing.TB) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
}

// Exchange posts pc's offer to url and applies the answer; it returns the
// status and the Location (or the error body).
func Exchange(t testing.TB, pc *webrtc.PeerConnection, url, key string) (int, string) {
	t.Helper()
	Offer(t, pc)
	return Post(t, pc, url, key)
}

// Offer sets pc's local description to an offer with its ICE candidates
// gathered: what a player has ready before it asks to join.
func Offer(t testing.TB, pc *webrtc.PeerConnection) {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("ICE candidate gathering did not complete within 10s")
	}
}

// ViewerOffer is a pion viewer's offer (a recvonly video and audio
// transceiver, every codec pion can receive), as a browser's lists all of
// its own.
func ViewerOffer(t testing.TB) string {
	t.Helper()
	pc, err := ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	Offer(t, pc)
	return pc.LocalDescription().SDP
}

// Post posts pc's offer (Offer) to url and applies the answer; it returns
// the status and the Location (or the error body).
func Post(t testing.TB, pc *webrtc.PeerConnection, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, string(body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location")
}

// Publisher sends ~30 fps H.264 (a keyframe every second) and 20 ms Opus.
type Publisher struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample
	Frames       atomic.Int64
	stop         chan struct{}
	done         sync.WaitGroup
	// Resource is the WHIP session's Location (PublishIVF): DELETE it to
	// end the stream as OBS does.
	Resource string
}

var (
	keyframe   = append(append(append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40}, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80), 0, 0, 0, 1, 0x65), bytes.Repeat([]byte{0x88}, 4000)...)
	deltaframe = append([]byte{0, 0, 0, 1, 0x41}, bytes.Repeat([]byte{0x9a}, 1500)...)
)

// Publish starts a WHIP publisher of stream at base.
func Publish(t testing.TB, base, stream, key string) (*Publisher, int, string) {
	t.Helper()
	pc, err := ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &Publisher{pc: pc, stop: make(chan struct{})}
	p.video, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	p.audio, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	for _, tr := range []webrtc.TrackLocal{p.video, p.audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	code, loc := Exchange(t, pc, base+"/live/"+stream+"/whip", key)
	t.Cleanup(func() { p.Close() })
	if code != http.StatusCreated {
		return p, code, loc
	}
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			frame := deltaframe
			if i%30 == 0 {
				frame = keyframe
			}
			if err := p.video.WriteSample(media.Sample{Data: frame, Duration: 33 * time.Millisecond}); err == nil {
				p.Frames.Add(1)
			}
		}
	}()
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			_ = p.audio.WriteSample(media.Sample{Data: bytes.Repeat([]byte{0xfc}, 120), Duration: 20 * time.Millisecond})
		}
	}()
	return p, code, loc
}

// Close stops sending and closes the connection.
func (p *Publisher) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
	p.pc.Close()
}

// Watcher counts what a WHEP viewer receives.
type Watcher struct {
	pc           *webrtc.PeerConnection
	Video, Audio atomic.Int64
	FirstVideo   chan struct{}
	once         sync.Once
}

// Watch starts a WHEP viewer of stream at base; read=false never reads.
func Watch(t testing.TB, base, stream string, read bool) (*Watcher, int, string) {
	t.Helper()
	pc, err := ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	w := &Watcher{pc: pc, FirstVideo: make(chan struct{})}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !read {
			return // a viewer that never reads its tracks
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				w.Video.Add(1)
				w.once.Do(func() { close(w.FirstVideo) })
			} else {
				w.Audio.Add(1)
			}
		}
	})
	t.Cleanup(func() { pc.Close() })
	code, loc := Exchange(t, pc, base+"/live/"+stream+"/whep", "")
	return w, code, loc
}

// PublishIVF publishes a VP8 IVF file (looped, at its frame rate) to
// stream: real video a browser can decode.
func PublishIVF(t testing.TB, base, stream, key, file string) (*Publisher, int) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &Publisher{pc: pc, stop: make(chan struct{})}
	p.video, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "pub")
	if _, err := pc.AddTransceiverFromTrack(p.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	code, loc := Exchange(t, pc, base+"/live/"+stream+"/whip", key)
	p.Resource = loc
	t.Cleanup(func() { p.Close() })
	if code != http.StatusCreated {
		return p, code
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for {
			r, hdr, err := ivfreader.NewWith(bytes.NewReader(raw))
			if err != nil {
				return
			}
			frameDur := time.Second * time.Duration(hdr.TimebaseNumerator) / time.Duration(hdr.TimebaseDenominator)
			tick := time.NewTicker(frameDur)
			for {
				frame, _, err := r.ParseNextFrame()
				if err != nil {
					break // loop the clip
				}
				select {
				case <-p.stop:
					tick.Stop()
					return
				case <-tick.C:
				}
				if p.video.WriteSample(media.Sample{Data: frame, Duration: frameDur}) == nil {
					p.Frames.Add(1)
				}
			}
			tick.Stop()
		}
	}()
	return p, code
}
