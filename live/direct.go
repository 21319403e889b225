package live

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// directTrack is a viewer's track (levers.direct): pion negotiates it like
// a TrackLocalStaticRTP (Bind picks the codec and payload type), but each
// packet goes straight to the writer pion bound it to, with this viewer's
// SSRC and payload type, and the viewer API has no interceptor between
// that writer and SRTP: no packet pool, no read-write lock and error slice
// per write, no per-packet clock reading and lock of pion's sender-report
// interceptor. The relay sends the sender reports itself (sendReports),
// from these counters, once a second for every viewer in one sweep.
type directTrack struct {
	*webrtc.TrackLocalStaticRTP // Bind/Unbind bookkeeping, ID, Kind

	out atomic.Pointer[directBinding]

	mu  sync.Mutex // writes come from forward, a catch-up and NACK answers
	hdr rtp.Header // scratch: the packet's header with this viewer's SSRC and payload type

	packets, octets atomic.Uint32 // sent, for sender reports (RFC 3550 counts wrap)
}

type directBinding struct {
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

func newDirectTrack(codec webrtc.RTPCodecCapability, id, streamID string) (*directTrack, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(codec, id, streamID)
	if err != nil {
		return nil, err
	}
	return &directTrack{TrackLocalStaticRTP: t}, nil
}

// Bind lets pion's TrackLocalStaticRTP choose the codec, then keeps the
// binding to write to it directly.
func (d *directTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, err := d.TrackLocalStaticRTP.Bind(ctx)
	if err != nil {
		return codec, err
	}
	d.out.Store(&directBinding{ssrc: uint32(ctx.SSRC()), pt: uint8(codec.PayloadType), w: ctx.WriteStream()})
	return codec, nil
}

// Unbind stops the writes.
func (d *directTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	d.out.Store(nil)
	return d.TrackLocalStaticRTP.Unbind(ctx)
}

// WriteRTP sends pkt to the viewer; pkt is shared with every other viewer
// and is not modified.
func (d *directTrack) WriteRTP(pkt *rtp.Packet) error {
	b := d.out.Load()
	if b == nil {
		return nil // not negotiated yet, or stopped: as TrackLocalStaticRTP, nothing to write to
	}
	d.mu.Lock()
	d.hdr = pkt.Header
	d.hdr.SSRC, d.hdr.PayloadType = b.ssrc, b.pt
	if pkt.PaddingSize != 0 && d.hdr.PaddingSize == 0 {
		d.hdr.PaddingSize = pkt.PaddingSize
	}
	_, err := b.w.WriteRTP(&d.hdr, pkt.Payload)
	d.mu.Unlock()
	if err == nil {
		d.packets.Add(1)
		d.octets.Add(uint32(len(pkt.Payload)))
	}
	return err
}

// report is the track's sender report at now, its RTP time extrapolated
// from the source's last timestamp and when it arrived; nil before the
// first packet.
func (d *directTrack) report(src *track, now time.Time) *rtcp.SenderReport {
	b := d.out.Load()
	if b == nil || d.packets.Load() == 0 {
		return nil
	}
	src.mu.Lock()
	ts, at, clock, ok := src.lastTS, src.lastAt, src.clock, src.started
	src.mu.Unlock()
	if !ok || clock == 0 {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     ts + uint32(now.Sub(at).Seconds()*float64(clock)),
		PacketCount: d.packets.Load(),
		OctetCount:  d.octets.Load(),
	}
}

// ntpTime is t as a 64-bit NTP timestamp (RFC 3550 section 4).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800 // seconds from 1900 to 1970
	ns := uint64(t.UnixNano())
	secs := ns/1e9 + unixToNTP
	frac := (ns % 1e9) << 32 / 1e9
	return secs<<32 | frac
}

// reportInterval is how often every viewer gets its sender reports, as
// pion's sender-report interceptor sends them.
const reportInterval = time.Second

// sendReports sends every connected viewer its tracks' sender reports
// (levers.direct) every reportInterval until done closes: one goroutine
// for the relay, the reports of a sweep batched into few sendmmsg calls.
func (r *Relay) sendReports(done <-chan struct{}) {
	tick := time.NewTicker(reportInterval)
	defer tick.Stop()
	var pkts []rtcp.Packet
	var viewers []*viewer
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		viewers = r.connectedViewers(viewers[:0])
		now := time.Now()
		r.udp.hold()
		for _, v := range viewers {
			pkts = pkts[:0]
			for _, vt := range v.tracks {
				if d, ok := vt.local.(*directTrack); ok {
					if sr := d.report(vt.src, now); sr != nil {
						pkts = append(pkts, sr)
					}
				}
			}
			if len(pkts) > 0 {
				_ = v.pc.WriteRTCP(pkts)
			}
		}
		r.udp.release()
		clear(viewers)
	}
}

// connectedViewers appends every connected viewer of every stream to vs.
func (r *Relay) connectedViewers(vs []*viewer) []*viewer {
	r.mu.Lock()
	streams := make([]*stream, 0, len(r.streams))
	for _, s := range r.streams {
		streams = append(streams, s)
	}
	r.mu.Unlock()
	for _, s := range streams {
		s.mu.Lock()
		for _, v := range s.viewers {
			if v.connected && !v.dropped {
				vs = append(vs, v)
			}
		}
		s.mu.Unlock()
	}
	return vs
}
