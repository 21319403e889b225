package live_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/merchd/merchd/live"
	"github.com/merchd/merchd/live/livetest"
)

// Attacks on pruneOffer (live/prune.go) through POST /live/<stream>/whep.

// postOffer posts offer to a stream's WHEP endpoint; a 201's session is
// deleted again so the per-address cap is never reached.
func postOffer(t *testing.T, base, offer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/live/show/whep", strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		del, _ := http.NewRequest(http.MethodDelete, base+resp.Header.Get("Location"), nil)
		if r, err := http.DefaultClient.Do(del); err == nil {
			r.Body.Close()
		}
	}
	return resp.StatusCode, string(body)
}

// answerSections lists each answer section's "pt name" codecs.
func answerSections(s string, streamOnly bool) string {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return "unparsable answer: " + err.Error()
	}
	var out []string
	for _, m := range d.MediaDescriptions {
		names := map[string]string{}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" {
				pt, rest, _ := strings.Cut(a.Value, " ")
				names[pt] = rest
			}
		}
		var l []string
		for _, pt := range m.MediaName.Formats {
			n := strings.ToLower(names[pt])
			if streamOnly && !strings.HasPrefix(n, "h264/") && !strings.HasPrefix(n, "opus/") {
				continue
			}
			l = append(l, pt+" "+names[pt])
		}
		out = append(out, fmt.Sprintf("%s port %d [%s]", m.MediaName.Media, m.MediaName.Port.Value, strings.Join(l, ", ")))
	}
	return strings.Join(out, "; ")
}

// section returns the lines of the offer's first m=<kind> section and
// the offer without it (at, where it was).
func mediaSection(offer, kind string) (before, sec, after string) {
	i := strings.Index(offer, "m="+kind+" ")
	j := strings.Index(offer[i+2:], "\nm=")
	if j < 0 {
		return offer[:i], offer[i:], ""
	}
	return offer[:i], offer[i : i+2+j+1], offer[i+2+j+1:]
}

func replaceSection(offer, kind string, f func(sec string) string) string {
	b, s, a := mediaSection(offer, kind)
	return b + f(s) + a
}

var mline = regexp.MustCompile(`(?m)^m=(video|audio) (\S+) (\S+)( [^\r\n]*)?`)

// hostileOffers are offers made from a pion player's.
func hostileOffers(base string) map[string]string {
	vpt := func(sec, name string) []string { // the payload types of codec name
		var pts []string
		for _, m := range regexp.MustCompile(`a=rtpmap:(\d+) `+name+`/`).FindAllStringSubmatch(sec, -1) {
			pts = append(pts, m[1])
		}
		return pts
	}
	_, video, _ := mediaSection(base, "video")
	h264 := vpt(video, "H264")
	vp8 := vpt(video, "VP8")
	setFormats := func(sec, formats string) string {
		return mline.ReplaceAllStringFunc(sec, func(l string) string {
			f := strings.Fields(l)
			return strings.Join(append(f[:3:3], strings.Fields(formats)...), " ")
		})
	}
	offers := map[string]string{
		"as is": base,
		// The m=video line lists only VP8; the H.264 rtpmaps are still there.
		"rtpmap for payload types not in the m-line": replaceSection(base, "video", func(s string) string { return setFormats(s, strings.Join(vp8, " ")) }),
		"m-line with no formats":                     replaceSection(base, "video", func(s string) string { return setFormats(s, "") }),
		"duplicate payload types":                    replaceSection(base, "video", func(s string) string { return setFormats(s, h264[0]+" "+h264[0]+" "+vp8[0]+" "+vp8[0]) }),
		"rtpmap without a slash":                     strings.Replace(base, "a=rtpmap:"+h264[0]+" H264/90000", "a=rtpmap:"+h264[0]+" H264", 1),
		"empty rtpmap":                               strings.Replace(base, "a=rtpmap:"+h264[0]+" H264/90000", "a=rtpmap:", 1),
		"CR-only line endings":                       strings.ReplaceAll(base, "\r\n", "\r"),
		"LF-only line endings":                       strings.ReplaceAll(base, "\r\n", "\n"),
		"video with VP8 only": replaceSection(base, "video", func(s string) string {
			return setFormats(regexp.MustCompile(`(?m)^a=(rtpmap|fmtp|rtcp-fb):(\d+) .*\r\n`).ReplaceAllStringFunc(s, func(l string) string {
				for _, pt := range vp8 {
					if strings.Contains(l, ":"+pt+" ") {
						return l
					}
				}
				return ""
			}), strings.Join(vp8, " "))
		}),
		"audio with PCMU only": replaceSection(base, "audio", func(s string) string {
			s = regexp.MustCompile(`(?m)^a=(rtpmap|fmtp|rtcp-fb):(\d+) .*\r\n`).ReplaceAllString(s, "")
			return setFormats(s, "0") + "a=rtpmap:0 PCMU/8000\r\n"
		}),
		"lower-case h264, upper-case OPUS": strings.ReplaceAll(strings.ReplaceAll(base, " H264/", " h264/"), " opus/", " OPUS/"),
		"one payload type, two codecs": strings.Replace(base, "a=rtpmap:"+h264[0]+" H264/90000\r\n",
			"a=rtpmap:"+h264[0]+" H264/90000\r\na=rtpmap:"+h264[0]+" VP8/90000\r\n", 1),
		"H264 payload type only in an rtcp-fb line": replaceSection(base, "video", func(s string) string {
			return setFormats(s, strings.Join(vp8, " ")+" "+h264[0])
		}),
		"out-of-range payload types": replaceSection(base, "video", func(s string) string {
			return setFormats(s, h264[0]+" 300 -1 abc") + "a=rtpmap:300 H264/90000\r\na=rtpmap:-1 H264/90000\r\na=rtpmap:abc H264/90000\r\n"
		}),
	}
	// Thousands of payload types, within the body limit.
	var many strings.Builder
	var pts []string
	for i := range 1400 {
		pt := fmt.Sprint(96 + i%32)
		pts = append(pts, pt)
		fmt.Fprintf(&many, "a=rtpmap:%s H264/90000\r\n", pt)
	}
	offers["thousands of payload types"] = replaceSection(base, "video", func(s string) string {
		return setFormats(s, strings.Join(pts, " ")) + many.String()
	})
	return offers
}

// TestHostileViewerOffersAnsweredAsUnpruned: each hostile offer is answered
// (201) or refused (400) by the relay, never 500; and an offer a relay
// without pruning (MERCHD_LIVE_OFF=prune) answers is answered by the
// pruning relay with the same payload types of the stream's codecs. A
// normal pion player still plays afterwards.
func TestHostileViewerOffersAnsweredAsUnpruned(t *testing.T) {
	tune := func(c *live.Config) { c.ViewerConnectTimeout = time.Second }
	_, pruning, _ := newRelay(t, tune)
	t.Setenv("MERCHD_LIVE_OFF", "prune")
	_, plain, _ := newRelay(t, tune)
	for _, srv := range []string{pruning.URL, plain.URL} {
		pub, code, _ := livetest.Publish(t, srv, "show", "sk_show")
		if code != http.StatusCreated {
			t.Fatalf("publish: %d", code)
		}
		waitFor(t, "the publisher to send 10 frames", func() bool { return pub.Frames.Load() >= 10 })
	}
	base := livetest.ViewerOffer(t)
	for name, offer := range hostileOffers(base) {
		t.Run(name, func(t *testing.T) {
			if len(offer) > 64<<10 {
				t.Fatalf("offer of %d bytes: over the body limit", len(offer))
			}
			gotCode, got := postOffer(t, pruning.URL, offer)
			wantCode, want := postOffer(t, plain.URL, offer)
			if gotCode == http.StatusCreated {
				got = answerSections(got, true)
			}
			if wantCode == http.StatusCreated {
				want = answerSections(want, true)
			}
			if gotCode != http.StatusCreated && gotCode != http.StatusBadRequest {
				t.Errorf("the relay answered %d %q: want 201 or 400", gotCode, strings.TrimSpace(got))
			}
			if wantCode == http.StatusCreated && (gotCode != wantCode || got != want) {
				t.Errorf("the stream's codecs in the answer\npruned:          %d %s\nwithout pruning: %d %s", gotCode, strings.TrimSpace(got), wantCode, strings.TrimSpace(want))
			}
		})
	}
	w, code, _ := livetest.Watch(t, pruning.URL, "show", true)
	if code != http.StatusCreated {
		t.Fatalf("a pion player: %d", code)
	}
	select {
	case <-w.FirstVideo:
	case <-time.After(10 * time.Second):
		t.Fatal("a pion player got no video from the pruning relay")
	}
}
