package live

import (
	"errors"
	"testing"
)

func TestCheckOffer(t *testing.T) {
	good := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n"
	if err := checkOffer(good); err != nil {
		t.Fatalf("a video offer: %v", err)
	}
	for _, bad := range []string{"", "not an offer", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"} {
		if err := checkOffer(bad); !errors.Is(err, errBadOffer) {
			t.Fatalf("%q: %v, want errBadOffer", bad, err)
		}
	}
}
