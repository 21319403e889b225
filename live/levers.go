package live

import (
	"os"
	"strings"
)

// levers are the fan-out and join optimisations, each on by default. The
// benchmark turns them off one by one (MERCHD_LIVE_OFF=batch,gcm,inline,
// handshakes,nack,direct,dtls,pace,prune in the relay's environment) to measure
// what each is worth.
type levers struct {
	batch      bool // queue the fan-out's datagrams and send them with sendmmsg
	gcm        bool // prefer SRTP_AEAD_AES_128_GCM to AES-CM + HMAC-SHA1
	inline     bool // write to viewers from the publisher's goroutine, no goroutine per viewer track
	handshakes bool // bound concurrent DTLS handshakes (Config.MaxHandshakes)
	nack       bool // resend from one buffer per track, not a copy per viewer track (pion's responder)
	direct     bool // viewer tracks write to pion's SRTP writer directly, no interceptors; the relay sends sender reports
	dtls       bool // answer viewers as the DTLS server without the cookie round trip (ICE already checked the address)
	pace       bool // a joiner's catch-up from the cached keyframe is paced, not one burst
	prune      bool // a viewer's offer loses the codecs the stream does not carry before pion reads it (prune.go)
}

func leversFromEnv() levers {
	l := levers{batch: true, gcm: true, inline: true, handshakes: true, nack: true, direct: true, dtls: true, pace: true, prune: true}
	for _, off := range strings.Split(os.Getenv("MERCHD_LIVE_OFF"), ",") {
		switch strings.TrimSpace(off) {
		case "batch":
			l.batch = false
		case "gcm":
			l.gcm = false
		case "inline":
			l.inline = false
		case "handshakes":
			l.handshakes = false
		case "nack":
			l.nack = false
		case "direct":
			l.direct = false
		case "dtls":
			l.dtls = false
		case "pace":
			l.pace = false
		case "prune":
			l.prune = false
		}
	}
	return l
}
