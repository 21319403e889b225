package live_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/live"
	"github.com/merchd/merchd/live/livetest"
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

func newRelay(t testing.TB, tune ...func(*live.Config)) (*live.Relay, *httptest.Server, *hooks) {
	t.Helper()
	h := &hooks{live: map[string]bool{}, viewers: map[string]int{}}
	cfg := live.DefaultConfig()
	cfg.IncludeLoopback = true
	for _, f := range tune {
		f(&cfg)
	}
	r, err := live.New(cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() { srv.Close(); r.Close() })
	return r, srv, h
}

func TestRelayLoopback(t *testing.T) {
	r, srv, h := newRelay(t)

	// Refusals first: no key, a wrong key, an unknown stream, an idle stream.
	if _, code, _ := livetest.Publish(t, srv.URL, "show", ""); code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", code)
	}
	if _, code, _ := livetest.Publish(t, srv.URL, "show", "sk_wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", code)
	}
	if _, code, _ := livetest.Publish(t, srv.URL, "nope", "sk_nope"); code != http.StatusNotFound {
		t.Fatalf("unknown stream: %d", code)
	}
	if _, code, msg := livetest.Watch(t, srv.URL, "other", true); code != http.StatusConflict || !strings.Contains(msg, "not live") {
		t.Fatalf("idle stream: %d %q", code, msg)
	}

	pub, code, loc := livetest.Publish(t, srv.URL, "show", "sk_show")
	if code != http.StatusCreated || !strings.HasPrefix(loc, "/live/show/whip/") {
		t.Fatalf("publish: %d %q", code, loc)
	}
	waitFor(t, "the publisher to send 40 frames", func() bool { return pub.Frames.Load() >= 40 })
	if _, code, _ := livetest.Publish(t, srv.URL, "show", "sk_show"); code != http.StatusConflict {
		t.Fatalf("second publisher: %d", code)
	}

	stalled, code, _ := livetest.Watch(t, srv.URL, "show", false)
	if code != http.StatusCreated {
		t.Fatalf("stalled viewer: %d", code)
	}
	_ = stalled
	const n = 6
	viewers := make([]*livetest.Watcher, n)
	for i := range viewers {
		w, code, loc := livetest.Watch(t, srv.URL, "show", true)
		if code != http.StatusCreated || !strings.HasPrefix(loc, "/live/show/whep/") {
			t.Fatalf("viewer %d: %d %q", i, code, loc)
		}
		viewers[i] = w
	}
	for i, w := range viewers {
		select {
		case <-w.FirstVideo:
		case <-time.After(5 * time.Second):
			t.Fatalf("viewer %d got no video", i)
		}
	}
	// Everyone keeps receiving, whatever the stalled viewer does.
	start := make([]int64, n)
	for i, w := range viewers {
		start[i] = w.Video.Load()
	}
	// The publisher sends 60 more frames; every viewer then receives at
	// least the two packets of each (a 1,505-byte delta frame is two FU-A
	// packets, a keyframe more), however long delivery takes to catch up.
	framesBefore := pub.Frames.Load()
	waitFor(t, "60 more frames sent", func() bool { return pub.Frames.Load()-framesBefore >= 60 })
	frames := pub.Frames.Load() - framesBefore
	for i, w := range viewers {
		waitFor(t, fmt.Sprintf("viewer %d receives %d frames' packets", i, frames), func() bool {
			return w.Video.Load()-start[i] >= frames*2
		})
		if w.Audio.Load() < 50 {
			t.Fatalf("viewer %d got %d audio packets", i, w.Audio.Load())
		}
	}
	// Viewers count once connected; the stalled one may still be joining.
	waitFor(t, "7 viewers counted", func() bool { return r.Viewers("show") == n+1 })
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
