package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/live/livetest"
)

// BenchmarkLiveRelay: one publisher at ~2 Mbps (30 fps H.264-shaped RTP,
// ~7 packets a frame, a keyframe a second, plus 50 pps Opus) relayed by a
// real `merchd serve` process to N WHEP viewers on loopback. Reports the
// relay's CPU per viewer (% of one core), RSS per viewer, delivery ratio
// and added latency (publisher write → viewer read; every packet carries
// its send time). The relay runs on core 0 when taskset is available.
//
//	go test -run '^$' -bench LiveRelay -benchtime 1x .
func BenchmarkLiveRelay(b *testing.B) {
	bin := graphtest.BuildMerchd(b)
	for _, n := range []int{50, 100, 200} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			rl := startRelay(b, bin)
			pub := rl.publish(b)
			defer pub.stop()
			time.Sleep(1500 * time.Millisecond) // a keyframe cached
			cpu0, rss0 := procStats(b, rl.pid)
			vs := make([]*benchViewer, n)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 20)
			for i := range vs {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					vs[i] = rl.view(b)
				})
			}
			wg.Wait()
			for _, v := range vs {
				v.waitVideo(b, 20*time.Second)
			}
			time.Sleep(2 * time.Second) // settle
			for _, v := range vs {
				v.reset()
			}
			sent0 := pub.sent.Load()
			cpuA, rssA := procStats(b, rl.pid)
			start := time.Now()
			time.Sleep(8 * time.Second)
			elapsed := time.Since(start)
			cpuB, _ := procStats(b, rl.pid)
			sent := pub.sent.Load() - sent0
			var lat []time.Duration
			var recv, gaps int64
			for _, v := range vs {
				r, g, l := v.collect()
				recv += r
				gaps += g
				lat = append(lat, l...)
			}
			cpuPct := float64(cpuB-cpuA) / ticksPerSecond / elapsed.Seconds() * 100
			b.ReportMetric(cpuPct/float64(n), "relay-%core/viewer")
			b.ReportMetric(cpuPct, "relay-%core")
			b.ReportMetric(float64(rssA-rss0)/1024/float64(n), "MiB/viewer")
			b.ReportMetric(float64(recv)/float64(sent*int64(n))*100, "delivered-%")
			graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
			b.ReportMetric(float64(gaps), "gaps")
			_ = cpu0
		})
	}
	b.Run("join-storm=200", func(b *testing.B) {
		rl := startRelay(b, bin)
		pub := rl.publish(b)
		defer pub.stop()
		time.Sleep(1500 * time.Millisecond)
		const n = 200
		vs := make([]*benchViewer, n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range vs {
			wg.Go(func() { vs[i] = rl.view(b) })
		}
		wg.Wait()
		for _, v := range vs {
			v.waitVideo(b, 30*time.Second)
		}
		allPlaying := time.Since(start)
		time.Sleep(2 * time.Second)
		var lat []time.Duration
		var gaps int64
		for _, v := range vs {
			_, g, l := v.collect()
			gaps += g
			lat = append(lat, l...)
		}
		b.ReportMetric(allPlaying.Seconds(), "s-until-all-playing")
		graphtest.ReportPercentiles(b, lat, 0.99)
		b.ReportMetric(float64(gaps), "gaps")
	})
}

const ticksPerSecond = 100 // Linux USER_HZ

type relayProc struct {
	base, stream, key string
	pid               int
}

func startRelay(b *testing.B, bin string) *relayProc {
	db := filepath.Join(b.TempDir(), "live.db")
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"staff", "create-token", "--database", db, "--email", "live@example.com"}, &tok, io.Discard); err != nil {
		b.Fatal(err)
	}
	staff := strings.TrimSpace(tok.String())
	// Every viewer comes from 127.0.0.1: lift the per-address cap.
	cmdBin, args := bin, []string{"--database", db, "--webrtc-loopback", "--live-max-viewers-per-ip", "1000"}
	if tp, err := exec.LookPath("taskset"); err == nil {
		// Pin the relay to core 0: wrap the binary.
		wrapper := filepath.Join(b.TempDir(), "pinned")
		os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+tp+" -c 0 "+bin+" \"$@\"\n"), 0o755)
		cmdBin = wrapper
	}
	base, pid := graphtest.StartServePID(b, cmdBin, nil, args...)
	if child := childPID(pid); child != 0 {
		pid = child
	}
	var s struct {
		CreateStream struct {
			Stream    struct{ ID string }
			StreamKey string
		}
	}
	mutate(b, base, staff, `mutation { createStream(input: {title: "bench"}) { stream { id } streamKey } }`).Decode(b, &s)
	return &relayProc{base: base, stream: s.CreateStream.Stream.ID, key: s.CreateStream.StreamKey, pid: pid}
}

// childPID follows the exec of the taskset wrapper (the same pid after exec).
func childPID(pid int) int { return pid }

func procStats(b *testing.B, pid int) (cpuTicks int64, rssKiB int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(status), "\n") {
		if x := strings.Fields(l); len(x) >= 2 && x[0] == "VmRSS:" {
			rssKiB, _ = strconv.ParseInt(x[1], 10, 64)
		}
	}
	return ut + st, rssKiB
}

// benchPublisher writes raw RTP whose payload carries the send time.
type benchPublisher struct {
	pc   *webrtc.PeerConnection
	sent atomic.Int64 // video and audio packets written
	done chan struct{}
	wg   sync.WaitGroup
}

func (rl *relayProc) publish(b *testing.B) *benchPublisher {
	pc, err := livetest.ClientAPI(b).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "bench")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "bench")
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	}
	if code, msg := livetest.Exchange(b, pc, rl.base+"/live/"+rl.stream+"/whip", rl.key); code != http.StatusCreated {
		b.Fatalf("publish: %d %s", code, msg)
	}
	p := &benchPublisher{pc: pc, done: make(chan struct{})}
	payload := func(first byte, size int) []byte {
		buf := make([]byte, size)
		buf[0] = first
		binary.BigEndian.PutUint64(buf[1:], uint64(time.Now().UnixNano()))
		return buf
	}
	p.wg.Add(2)
	go func() { // video: 30 fps, 7 × 1,150-byte packets a frame ≈ 1.9 Mbps
		defer p.wg.Done()
		t := time.NewTicker(time.Second / 30)
		defer t.Stop()
		var seq uint16
		for frame := 0; ; frame++ {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			for i := range 7 {
				nal := byte(0x41)
				if frame%30 == 0 && i == 0 {
					nal = 0x65 // IDR: a keyframe starts here
				}
				seq++
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(frame * 3000), Marker: i == 6},
					Payload: payload(nal, 1150)}
				if video.WriteRTP(pkt) == nil {
					p.sent.Add(1)
				}
			}
		}
	}()
	go func() { // audio: 50 pps
		defer p.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var seq uint16
		for i := 0; ; i++ {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			seq++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i * 960)}, Payload: payload(0xfc, 120)}
			if audio.WriteRTP(pkt) == nil {
				p.sent.Add(1)
			}
		}
	}()
	return p
}

func (p *benchPublisher) stop() {
	close(p.done)
	p.wg.Wait()
	p.pc.Close()
}

type benchViewer struct {
	pc         *webrtc.PeerConnection
	mu         sync.Mutex
	recv, gaps int64
	lat        []time.Duration
	lastSeq    map[webrtc.RTPCodecType]uint16
	video      chan struct{}
	once       sync.Once
}

func (rl *relayProc) view(b *testing.B) *benchViewer {
	pc, err := livetest.ClientAPI(b).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	v := &benchViewer{pc: pc, video: make(chan struct{}), lastSeq: map[webrtc.RTPCodecType]uint16{}}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		kind := tr.Kind()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			if len(pkt.Payload) < 9 {
				continue
			}
			sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(pkt.Payload[1:9])))
			v.mu.Lock()
			if last, ok := v.lastSeq[kind]; ok && pkt.SequenceNumber != last+1 && pkt.SequenceNumber-last < 0x8000 {
				v.gaps++
			}
			v.lastSeq[kind] = pkt.SequenceNumber
			v.recv++
			v.lat = append(v.lat, now.Sub(sentAt))
			v.mu.Unlock()
			if kind == webrtc.RTPCodecTypeVideo {
				v.once.Do(func() { close(v.video) })
			}
		}
	})
	b.Cleanup(func() { pc.Close() })
	if code, msg := livetest.Exchange(b, pc, rl.base+"/live/"+rl.stream+"/whep", ""); code != http.StatusCreated {
		b.Fatalf("view: %d %s", code, msg)
	}
	return v
}

func (v *benchViewer) waitVideo(b *testing.B, d time.Duration) {
	select {
	case <-v.video:
	case <-time.After(d):
		b.Fatal("a viewer got no video")
	}
}

func (v *benchViewer) reset() {
	v.mu.Lock()
	v.recv, v.gaps, v.lat = 0, 0, nil
	v.mu.Unlock()
}

func (v *benchViewer) collect() (int64, int64, []time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.recv, v.gaps, append([]time.Duration(nil), v.lat...)
}
