package live_test

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/live"
	"github.com/merchd/merchd/live/livetest"
)

// firstVideo waits for w's first video packet, failing after 10s.
func firstVideo(t testing.TB, w *livetest.Watcher) {
	t.Helper()
	select {
	case <-w.FirstVideo:
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer got no video within 10s")
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func do(t testing.TB, method, url, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// Finding 7: anybody's DELETE or PATCH on made-up ids used to create a
// stream entry that was never freed (40 long ids: +20 MB for good).
func TestRelayUnknownStreamsLeaveNoEntry(t *testing.T) {
	r, srv, _ := newRelay(t)
	const frag = "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	for i := 0; i < 40; i++ {
		stream := randomID(24)
		if i%2 == 1 {
			stream = randomID(4000) // too long to be an id at all
		}
		for _, kind := range []string{"whip", "whep"} {
			url := srv.URL + "/live/" + stream + "/" + kind + "/" + randomID(24)
			if code, _, body := do(t, http.MethodDelete, url, "", ""); code != http.StatusNotFound || !strings.Contains(body, "no such stream") {
				t.Fatalf("DELETE %s: %d %q", kind, code, body)
			}
			if code, _, body := do(t, http.MethodPatch, url, "application/trickle-ice-sdpfrag", frag); code != http.StatusNotFound || !strings.Contains(body, "no such stream") {
				t.Fatalf("PATCH %s: %d %q", kind, code, body)
			}
		}
	}
	// A viewer of a known stream that is not live, and ids outside the alphabet.
	if _, code, _ := livetest.Watch(t, srv.URL, "other", true); code != http.StatusConflict {
		t.Fatalf("idle stream: %d", code)
	}
	if code, _, _ := do(t, http.MethodDelete, srv.URL+"/live/sh%25ow/whep/x", "", ""); code != http.StatusNotFound {
		t.Fatalf("odd id: %d", code)
	}
	if n := r.Streams(); n != 0 {
		t.Fatalf("%d stream entries after requests on unknown streams, want 0", n)
	}

	// A stream's entry lives while it has a publisher or a viewer, then goes.
	_, code, pubLoc := livetest.Publish(t, srv.URL, "show", "sk_show")
	if code != http.StatusCreated {
		t.Fatalf("publish: %d", code)
	}
	w, code, viewLoc := livetest.Watch(t, srv.URL, "show", true)
	if code != http.StatusCreated {
		t.Fatalf("watch: %d", code)
	}
	firstVideo(t, w)
	if code, _, _ := do(t, http.MethodDelete, srv.URL+pubLoc, "", ""); code != http.StatusOK {
		t.Fatalf("end publish: %d", code)
	}
	if n := r.Streams(); n != 1 {
		t.Fatalf("%d entries with a viewer left, want 1", n)
	}
	if code, _, _ := do(t, http.MethodDelete, srv.URL+viewLoc, "", ""); code != http.StatusOK {
		t.Fatalf("end view: %d", code)
	}
	if n := r.Streams(); n != 0 {
		t.Fatalf("%d entries after everyone left, want 0", n)
	}
}

// Finding 7: WHEP viewers are capped per address and per stream, with a
// clear refusal that says when to come back.
func TestRelayViewerCaps(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		_, srv, _ := newRelay(t, func(c *live.Config) { c.MaxViewersPerIP, c.MaxViewers = 2, 10 })
		livetest.Publish(t, srv.URL, "show", "sk_show")
		_, _, first := livetest.Watch(t, srv.URL, "show", true)
		if _, code, _ := livetest.Watch(t, srv.URL, "show", true); code != http.StatusCreated {
			t.Fatalf("second viewer: %d", code)
		}
		_, code, body := livetest.Watch(t, srv.URL, "show", true)
		if code != http.StatusTooManyRequests || !strings.Contains(body, "too many viewers from your address") {
			t.Fatalf("third viewer from one address: %d %q", code, body)
		}
		// The other stream counts against the same address.
		livetest.Publish(t, srv.URL, "other", "sk_other")
		if _, code, _ := livetest.Watch(t, srv.URL, "other", true); code != http.StatusTooManyRequests {
			t.Fatalf("other stream from the same address: %d", code)
		}
		if code, _, _ := do(t, http.MethodDelete, srv.URL+first, "", ""); code != http.StatusOK {
			t.Fatalf("end view: %d", code)
		}
		if _, code, _ := livetest.Watch(t, srv.URL, "show", true); code != http.StatusCreated {
			t.Fatalf("viewer after one left: %d", code)
		}
	})
	t.Run("per stream", func(t *testing.T) {
		_, srv, _ := newRelay(t, func(c *live.Config) { c.MaxViewersPerIP, c.MaxViewers = 10, 2 })
		livetest.Publish(t, srv.URL, "show", "sk_show")
		for i := 0; i < 2; i++ {
			if _, code, _ := livetest.Watch(t, srv.URL, "show", true); code != http.StatusCreated {
				t.Fatalf("viewer %d: %d", i, code)
			}
		}
		pc, err := livetest.ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		offer, _ := pc.CreateOffer(nil)
		code, hdr, body := do(t, http.MethodPost, srv.URL+"/live/show/whep", "application/sdp", offer.SDP)
		if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "as many viewers as it can take") {
			t.Fatalf("viewer over the stream's cap: %d %q %q", code, hdr.Get("Retry-After"), body)
		}
	})
}

// Finding 7: a WHEP offer that never connects is not a viewer, and its
// session and slot are freed after the connect timeout.
func TestRelayViewerCountedOnceConnected(t *testing.T) {
	r, srv, h := newRelay(t, func(c *live.Config) {
		c.MaxViewersPerIP = 1
		c.ViewerConnectTimeout = 300 * time.Millisecond
	})
	livetest.Publish(t, srv.URL, "show", "sk_show")

	// An offer whose answer is never applied: ICE never connects.
	pc, err := livetest.ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	_ = pc.SetLocalDescription(offer)
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("ICE candidate gathering did not complete within 10s")
	}
	code, hdr, _ := do(t, http.MethodPost, srv.URL+"/live/show/whep", "application/sdp", pc.LocalDescription().SDP)
	_ = pc.Close()
	loc := hdr.Get("Location")
	if code != http.StatusCreated || loc == "" {
		t.Fatalf("offer: %d %q", code, loc)
	}
	if n := r.Viewers("show"); n != 0 {
		t.Fatalf("a viewer that has not connected is counted: %d", n)
	}
	h.mu.Lock()
	reported := h.viewers["show"]
	h.mu.Unlock()
	if reported != 0 {
		t.Fatalf("the shop heard of %d viewers before any connected", reported)
	}
	// Its session is freed after the timeout (DELETE finds nothing) and
	// its address may watch again.
	waitFor(t, "the unconnected session to be closed", func() bool {
		code, _, _ := do(t, http.MethodDelete, srv.URL+loc, "", "")
		return code == http.StatusNotFound
	})
	w, code, _ := livetest.Watch(t, srv.URL, "show", true)
	if code != http.StatusCreated {
		t.Fatalf("a real viewer after the timeout: %d", code)
	}
	firstVideo(t, w)
	waitFor(t, "the connected viewer to count", func() bool { return r.Viewers("show") == 1 })
	h.mu.Lock()
	reported = h.viewers["show"]
	h.mu.Unlock()
	if reported != 1 {
		t.Fatalf("the shop heard of %d viewers, want 1", reported)
	}
	// A connected viewer outlives the connect timeout.
	time.Sleep(2 * 300 * time.Millisecond)
	if n := r.Viewers("show"); n != 1 {
		t.Fatalf("the connected viewer was dropped by the connect timeout: %d", n)
	}
}

func TestConfigValidateViewerLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		tune func(*live.Config)
	}{
		{"no viewers", func(c *live.Config) { c.MaxViewers = 0 }},
		{"no viewers per address", func(c *live.Config) { c.MaxViewersPerIP = 0 }},
		{"no connect time", func(c *live.Config) { c.ViewerConnectTimeout = 0 }},
		{"endless connect time", func(c *live.Config) { c.ViewerConnectTimeout = time.Hour }},
	} {
		c := live.DefaultConfig()
		tc.tune(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := live.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
