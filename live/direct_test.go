package live_test

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/live/livetest"
)

// Viewer tracks written straight to SRTP (levers.direct) still carry
// sender reports, now sent by the relay: each names the track's SSRC,
// counts what the viewer got, and maps the wall clock to the media's RTP
// time (what a browser needs to keep audio and video in sync).
func TestViewerGetsSenderReports(t *testing.T) {
	_, srv, _ := newRelay(t)
	pub := startRawPublisher(t, srv.URL, true)
	waitLong(t, "15 frames sent", func() bool { return pub.frames.Load() >= 15 })

	pc, err := livetest.ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	type media struct {
		ssrc      uint32
		clock     uint32
		packets   atomic.Int64
		lastTS    atomic.Uint32
		lastTSAt  atomic.Int64 // unix ns when lastTS first arrived
		mu        sync.Mutex
		srs       []*rtcp.SenderReport
		srArrived []time.Time
	}
	var mu sync.Mutex
	tracks := map[webrtc.RTPCodecType]*media{}
	pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		m := &media{ssrc: uint32(tr.SSRC()), clock: tr.Codec().ClockRate}
		mu.Lock()
		tracks[tr.Kind()] = m
		mu.Unlock()
		go func() {
			for {
				pkts, _, err := rcv.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						m.mu.Lock()
						m.srs = append(m.srs, sr)
						m.srArrived = append(m.srArrived, time.Now())
						m.mu.Unlock()
					}
				}
			}
		}()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.Timestamp != m.lastTS.Load() || m.packets.Load() == 0 {
				m.lastTSAt.Store(time.Now().UnixNano())
				m.lastTS.Store(pkt.Timestamp)
			}
			m.packets.Add(1)
		}
	})
	if code, loc := livetest.Exchange(t, pc, srv.URL+"/live/show/whep", ""); code != 201 {
		t.Fatalf("WHEP: %d %s", code, loc)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		waitLong(t, kind.String()+": two sender reports", func() bool {
			mu.Lock()
			m := tracks[kind]
			mu.Unlock()
			if m == nil {
				return false
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			return len(m.srs) >= 2
		})
		mu.Lock()
		m := tracks[kind]
		mu.Unlock()
		m.mu.Lock()
		sr, arrived := m.srs[len(m.srs)-1], m.srArrived[len(m.srArrived)-1]
		m.mu.Unlock()
		if sr.SSRC != m.ssrc {
			t.Errorf("%s: sender report for SSRC %d, the track is %d", kind, sr.SSRC, m.ssrc)
		}
		if got := int64(sr.PacketCount); got < 1 || got > m.packets.Load() {
			t.Errorf("%s: sender report counts %d packets, the viewer has %d", kind, got, m.packets.Load())
		}
		ntp := time.Unix(int64(sr.NTPTime>>32)-2208988800, int64((sr.NTPTime&0xffffffff)*1e9>>32))
		if d := arrived.Sub(ntp); d < -time.Second || d > time.Second {
			t.Errorf("%s: sender report's NTP time is %v off the arrival", kind, d)
		}
		// The RTP time the report maps its NTP time to is the media time
		// then: within 200 ms of the last timestamp the viewer saw, moved on
		// by the time since it arrived.
		want := float64(m.lastTS.Load()) + time.Since(time.Unix(0, m.lastTSAt.Load())).Seconds()*float64(m.clock) -
			time.Since(arrived).Seconds()*float64(m.clock)
		if d := (float64(sr.RTPTime) - want) / float64(m.clock); d < -0.2 || d > 0.2 {
			t.Errorf("%s: sender report's RTP time is %.3f s off the media's", kind, d)
		}
	}
}

// The relay answers a viewer as the DTLS server (levers.dtls), and the
// viewer, a DTLS client that expects a cookie exchange the relay skips,
// still connects and plays.
func TestViewerAnswerIsDTLSServer(t *testing.T) {
	_, srv, _ := newRelay(t)
	pub := startRawPublisher(t, srv.URL, true)
	waitLong(t, "15 frames sent", func() bool { return pub.frames.Load() >= 15 })
	v := stormWith(t, livetest.ClientAPI(t), srv.URL, 1, false)[0]
	want := "a=setup:passive"
	if strings.Contains(os.Getenv("MERCHD_LIVE_OFF"), "dtls") {
		want = "a=setup:active" // the lever off: pion's default answer
	}
	answer := v.pc.RemoteDescription()
	if answer == nil || !strings.Contains(answer.SDP, want) {
		t.Fatalf("the relay's answer has no %s:\n%v", want, answer)
	}
	frames := pub.frames.Load()
	waitLong(t, "30 more frames sent", func() bool { return pub.frames.Load() >= frames+30 })
	if v.video.Load() < 30 || v.gaps.Load() != 0 {
		t.Fatalf("the viewer got %d video packets with %d gaps", v.video.Load(), v.gaps.Load())
	}
}
