package live

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/live/livetest"
)

var streamMimes = []string{webrtc.MimeTypeH264, webrtc.MimeTypeOpus}

// codecs lists each media section's payload types as "pt name" in the
// order of its m= line.
func codecs(t testing.TB, s string) [][]string {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		t.Fatalf("%v in\n%s", err, s)
	}
	var out [][]string
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
			l = append(l, pt+" "+names[pt])
		}
		out = append(out, l)
	}
	return out
}

// TestPruneOffer: a full viewer offer pruned to H.264 and Opus keeps every
// H.264 payload type, drops every other
// codec's payload type with its rtpmap, fmtp and rtcp-fb lines, and keeps
// every other line (ICE, DTLS, directions, mids) as it was.
func TestPruneOffer(t *testing.T) {
	full := livetest.ViewerOffer(t)
	pruned := pruneOffer(full, streamMimes)
	before, after := codecs(t, full), codecs(t, pruned)
	if len(before) != 2 || len(after) != 2 {
		t.Fatalf("sections: %d before, %d after, want 2", len(before), len(after))
	}
	if len(before[0]) < 20 {
		t.Fatalf("the full offer's video section has only %d payload types: %v", len(before[0]), before[0])
	}
	h264 := map[string]bool{}
	var wantVideo []string
	for _, c := range before[0] {
		if pt, name, _ := strings.Cut(c, " "); strings.HasPrefix(strings.ToLower(name), "h264/") {
			h264[pt] = true
			wantVideo = append(wantVideo, c)
		}
	}
	slices.Sort(wantVideo)
	gotVideo := slices.Sorted(slices.Values(after[0]))
	if len(h264) == 0 || !slices.Equal(gotVideo, wantVideo) {
		t.Fatalf("video after pruning: %v, want the H.264 types: %v", gotVideo, wantVideo)
	}
	if len(after[1]) != 1 || !strings.HasPrefix(strings.ToLower(strings.SplitN(after[1][0], " ", 2)[1]), "opus/") {
		t.Fatalf("audio after pruning: %v, want opus alone", after[1])
	}
	kept := map[string]bool{}
	for _, sec := range after {
		for _, c := range sec {
			kept[strings.SplitN(c, " ", 2)[0]] = true
		}
	}
	ptLine := regexp.MustCompile(`^a=(rtpmap|fmtp|rtcp-fb):(\d+) `)
	for _, l := range strings.Split(full, "\r\n") {
		m := ptLine.FindStringSubmatch(l)
		switch {
		case strings.HasPrefix(l, "m="):
		case m != nil && !kept[m[2]]:
			if strings.Contains(pruned, l+"\r\n") {
				t.Errorf("a dropped payload type's line is still there: %s", l)
			}
		case !strings.Contains(pruned, l):
			t.Errorf("a line was lost: %q", l)
		}
	}
	if len(pruned) > len(full)*2/3 {
		t.Errorf("pruned offer %d bytes of %d", len(pruned), len(full))
	}
}

// TestPruneOfferLeavesWhatItCannotServe: a section offering none of the
// stream's codecs on its m= line, a section mapping a payload type twice, a
// section with nothing to drop and non-media sections are left byte for
// byte, as is an offer that is not SDP at all.
func TestPruneOfferLeavesWhatItCannotServe(t *testing.T) {
	vp8Only := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=sctp-port:5000\r\n"
	// H.264 mapped but not on the m= line; one payload type mapped twice.
	unlisted := "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n"
	twice := "m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\na=rtpmap:102 H264/90000\r\na=rtpmap:102 VP8/90000\r\na=rtpmap:96 VP8/90000\r\n"
	for _, offer := range []string{vp8Only, unlisted, twice, "", "not an offer", "m=video\r\n"} {
		if got := pruneOffer(offer, streamMimes); got != offer {
			t.Errorf("pruneOffer changed\n%q\ninto\n%q", offer, got)
		}
	}
	// rtx goes, the wildcard rtcp-fb stays, and LF-only lines work.
	mixed := "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\nc=IN IP4 0.0.0.0\na=rtcp-fb:* transport-cc\na=rtpmap:96 VP8/90000\na=rtpmap:97 rtx/90000\na=fmtp:97 apt=96\n" +
		"a=rtpmap:102 H264/90000\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\na=rtcp-fb:102 nack pli\na=rtpmap:103 rtx/90000\na=fmtp:103 apt=102\n"
	want := "m=video 9 UDP/TLS/RTP/SAVPF 102\nc=IN IP4 0.0.0.0\na=rtcp-fb:* transport-cc\n" +
		"a=rtpmap:102 H264/90000\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\na=rtcp-fb:102 nack pli\n"
	if got := pruneOffer(mixed, streamMimes); got != want {
		t.Errorf("pruneOffer:\n%s\nwant\n%s", got, want)
	}
}

// answerCodecs is the codecs a relay-like answerer (every default codec
// registered, an H.264 and an Opus track to send) answers offer with.
func answerCodecs(t testing.TB, offer string) [][]string {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, c := range []webrtc.RTPCodecCapability{{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, {MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}} {
		tr, err := webrtc.NewTrackLocalStaticRTP(c, c.MimeType, "merchd")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return codecs(t, ans.SDP)
}

// TestPrunedOfferSameAnswer: pion answers the pruned offer with the full
// offer's answer less the codecs the stream does not carry (and rtx): the
// same payload types for H.264 and Opus, in the same order, so the tracks
// bind to the same payload type.
// Tried with pion's offer and with Chromium 156's
// (testdata/chromium-156-offer.sdp: createOffer with a recvonly video and
// audio transceiver).
func TestPrunedOfferSameAnswer(t *testing.T) {
	chromium, err := os.ReadFile("testdata/chromium-156-offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	for name, full := range map[string]string{"pion": livetest.ViewerOffer(t), "chromium": string(chromium)} {
		t.Run(name, func(t *testing.T) { samePrunedAnswer(t, full) })
	}
}

func samePrunedAnswer(t *testing.T, full string) {
	a, b := answerCodecs(t, full), answerCodecs(t, pruneOffer(full, streamMimes))
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("answers: %v and %v", a, b)
	}
	for i := range a {
		var want []string
		for _, c := range a[i] {
			name := strings.ToLower(strings.SplitN(c, " ", 2)[1])
			if strings.HasPrefix(name, "h264/") || strings.HasPrefix(name, "opus/") {
				want = append(want, c)
			}
		}
		if len(want) == 0 || !slices.Equal(b[i], want) {
			t.Fatalf("section %d: the pruned offer's answer %v, want %v (of %v)", i, b[i], want, a[i])
		}
	}
}

// BenchmarkViewerOffer is the relay's CPU for answering one viewer's offer
// (the peer connection made, pion's SetRemoteDescription and
// CreateAnswer), full and pruned to the stream's codecs, for pion's offer
// and Chromium's.
func BenchmarkViewerOffer(b *testing.B) {
	chromium, err := os.ReadFile("testdata/chromium-156-offer.sdp")
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range []struct{ name, sdp string }{{"pion", livetest.ViewerOffer(b)}, {"chromium", string(chromium)}} {
		for _, prune := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/pruned=%v", o.name, prune), func(b *testing.B) {
				for b.Loop() {
					offer := o.sdp
					if prune {
						offer = pruneOffer(offer, streamMimes)
					}
					answerCodecs(b, offer)
				}
			})
		}
	}
}
