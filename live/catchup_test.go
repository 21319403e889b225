package live

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordingLocal is a viewer's track that records what is written to it
// and when.
type recordingLocal struct {
	*webrtc.TrackLocalStaticRTP
	seqs []uint16
	at   []time.Time
}

func (r *recordingLocal) WriteRTP(p *rtp.Packet) error {
	r.seqs = append(r.seqs, p.SequenceNumber)
	r.at = append(r.at, time.Now())
	return nil
}

// A joiner's catch-up from the cached keyframe: every packet once, in
// order, then the backlog that arrived meanwhile, then live; paced, at most
// pacedChunk packets every pacedEvery, unpaced all at once.
func TestCatchUpPacing(t *testing.T) {
	for _, pace := range []bool{true, false} {
		t.Run(map[bool]string{true: "paced", false: "unpaced"}[pace], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, "video", "test")
				if err != nil {
					t.Fatal(err)
				}
				local := &recordingLocal{TrackLocalStaticRTP: base}
				vt := &viewerTrack{src: &track{kind: webrtc.RTPCodecTypeVideo}, local: local, limit: 512, pace: pace}
				var snapshot []*rtp.Packet
				for i := range 64 {
					snapshot = append(snapshot, &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}})
				}
				vt.backlog = []*rtp.Packet{{Header: rtp.Header{SequenceNumber: 64}}, {Header: rtp.Header{SequenceNumber: 65}}}
				start := time.Now()
				vt.catchUp(make(chan struct{}), snapshot)
				took := time.Since(start)
				if !vt.live.Load() {
					t.Fatal("the viewer is not live after its catch-up")
				}
				if len(local.seqs) != 66 {
					t.Fatalf("%d packets written, want 66", len(local.seqs))
				}
				for i, s := range local.seqs {
					if s != uint16(i) {
						t.Fatalf("packet %d has sequence number %d: out of order", i, s)
					}
				}
				want := time.Duration(0)
				if pace {
					want = (64/pacedChunk - 1) * pacedEvery // 4 chunks, 3 waits; the backlog goes at once
				}
				if took != want {
					t.Errorf("the catch-up took %v, want %v", took, want)
				}
				if pace {
					for i := pacedChunk; i < len(local.at); i++ {
						if d := local.at[i].Sub(local.at[i-pacedChunk]); i < 64 && d < pacedEvery {
							t.Fatalf("packets %d and %d written %v apart: more than %d within %v", i-pacedChunk, i, d, pacedChunk, pacedEvery)
						}
					}
				}
			})
		})
	}
}
