package live_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/merchd/merchd/live"
)

type hooks struct {
	mu      sync.Mutex
	live    map[string]bool
	viewers map[string]int
}

func (h *hooks) AuthorizePublisher(_ context.Context, stream, key string) error {
	if stream != "show" && stream != "other" {
		return live.ErrNoStream
	}
	if key != "sk_"+stream {
		return live.ErrUnauthorized
	}
	return nil
}

func (h *hooks) AuthorizeViewer(_ context.Context, stream string) error {
	if stream != "show" && stream != "other" {
		return live.ErrNoStream
	}
	return nil
}

func (h *hooks) Live(stream string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[stream] = on
}

func (h *hooks) Viewers(stream string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.viewers[stream] = n
}

func newRelay(t testing.TB) (*live.Relay, *httptest.Server, *hooks) {
	t.Helper()
	h := &hooks{live: map[string]bool{}, viewers: map[string]int{}}
	cfg := live.DefaultConfig()
	cfg.IncludeLoopback = true
	r, err := live.New(cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() { srv.Close(); r.Close() })
	return r, srv, h
}

func clientAPI(t testing.TB) *webrtc.API {
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

// exchange posts an offer and applies the answer; it returns the HTTP
// status and the session's Location.
func exchange(t testing.TB, pc *webrtc.PeerConnection, url, key string) (int, string) {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
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

// publisher sends ~30 fps H.264 (a keyframe every second) and 20 ms Opus.
type publisher struct {
	pc          *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample
	frames      atomic.Int64
	stop        chan struct{}
	done        sync.WaitGroup
}

var (
	keyframe   = append(append(append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40}, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80), 0, 0, 0, 1, 0x65), bytes.Repeat([]byte{0x88}, 4000)...)
	deltaframe = append([]byte{0, 0, 0, 1, 0x41}, bytes.Repeat([]byte{0x9a}, 1500)...)
)

func publish(t testing.TB, base, stream, key string) (*publisher, int, string) {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{pc: pc, stop: make(chan struct{})}
	p.video, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	p.audio, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	for _, tr := range []webrtc.TrackLocal{p.video, p.audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	code, loc := exchange(t, pc, base+"/live/"+stream+"/whip", key)
	t.Cleanup(func() { p.close() })
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
				p.frames.Add(1)
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

func (p *publisher) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
	p.pc.Close()
}

// watcher counts what a WHEP viewer receives.
type watcher struct {
	pc           *webrtc.PeerConnection
	video, audio atomic.Int64
	firstVideo   chan struct{}
	once         sync.Once
}

func watch(t testing.TB, base, stream string, read bool) (*watcher, int, string) {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{pc: pc, firstVideo: make(chan struct{})}
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
				w.video.Add(1)
				w.once.Do(func() { close(w.firstVideo) })
			} else {
				w.audio.Add(1)
			}
		}
	})
	t.Cleanup(func() { pc.Close() })
	code, loc := exchange(t, pc, base+"/live/"+stream+"/whep", "")
	return w, code, loc
}

func TestRelayLoopback(t *testing.T) {
	r, srv, h := newRelay(t)

	// Refusals first: no key, a wrong key, an unknown stream, an idle stream.
	if _, code, _ := publish(t, srv.URL, "show", ""); code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", code)
	}
	if _, code, _ := publish(t, srv.URL, "show", "sk_wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", code)
	}
	if _, code, _ := publish(t, srv.URL, "nope", "sk_nope"); code != http.StatusNotFound {
		t.Fatalf("unknown stream: %d", code)
	}
	if _, code, msg := watch(t, srv.URL, "other", true); code != http.StatusConflict || !strings.Contains(msg, "not live") {
		t.Fatalf("idle stream: %d %q", code, msg)
	}

	pub, code, loc := publish(t, srv.URL, "show", "sk_show")
	if code != http.StatusCreated || !strings.HasPrefix(loc, "/live/show/whip/") {
		t.Fatalf("publish: %d %q", code, loc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pub.frames.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, code, _ := publish(t, srv.URL, "show", "sk_show"); code != http.StatusConflict {
		t.Fatalf("second publisher: %d", code)
	}

	stalled, code, _ := watch(t, srv.URL, "show", false)
	if code != http.StatusCreated {
		t.Fatalf("stalled viewer: %d", code)
	}
	_ = stalled
	const n = 6
	viewers := make([]*watcher, n)
	for i := range viewers {
		w, code, loc := watch(t, srv.URL, "show", true)
		if code != http.StatusCreated || !strings.HasPrefix(loc, "/live/show/whep/") {
			t.Fatalf("viewer %d: %d %q", i, code, loc)
		}
		viewers[i] = w
	}
	for i, w := range viewers {
		select {
		case <-w.firstVideo:
		case <-time.After(5 * time.Second):
			t.Fatalf("viewer %d got no video", i)
		}
	}
	// Everyone keeps receiving, whatever the stalled viewer does.
	start := make([]int64, n)
	for i, w := range viewers {
		start[i] = w.video.Load()
	}
	framesBefore := pub.frames.Load()
	time.Sleep(2 * time.Second)
	frames := pub.frames.Load() - framesBefore
	for i, w := range viewers {
		got := w.video.Load() - start[i]
		// A 1,505-byte delta frame is two FU-A packets, a keyframe more:
		// at least 2 per frame sent, less 2% for timing at the edges.
		if got < frames*2*98/100 {
			t.Fatalf("viewer %d got %d video packets for %d frames sent", i, got, frames)
		}
		if w.audio.Load() < 50 {
			t.Fatalf("viewer %d got %d audio packets", i, w.audio.Load())
		}
	}
	h.mu.Lock()
	liveNow, count := h.live["show"], h.viewers["show"]
	h.mu.Unlock()
	if !liveNow || count != n+1 || r.Viewers("show") != n+1 {
		t.Fatalf("hooks: live %v, viewers %d (relay %d)", liveNow, count, r.Viewers("show"))
	}
	if mt, ok := r.MediaTime("show"); !ok || mt < 1 {
		t.Fatalf("media time %v %v", mt, ok)
	}

	// Ending the publisher's session makes the stream idle again.
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %v %v", resp, err)
	}
	h.mu.Lock()
	liveNow = h.live["show"]
	h.mu.Unlock()
	if liveNow {
		t.Fatal("still live after the publisher left")
	}
}
