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

	"github.com/pion/rtcp"
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
// its send time), and the load generator's own CPU (loadgen-%core: above
// ~90 % of its share the numbers measure the generator, not the relay).
// The relay runs on core 0 when taskset is available; the viewers (pion
// peers in this process) are not pinned and use both cores.
//
// Sub-benchmarks: viewers=N with every lever on (LIVE_BENCH_VIEWERS,
// default 100,200,500); levers-off=X/viewers=200 switches one fan-out
// lever off in the relay (MERCHD_LIVE_OFF: batch = sendmmsg batching,
// gcm = AES-128-GCM first, inline = no goroutine per viewer track, nack =
// one resend buffer per track instead of a copy per viewer track, all);
// join-storm=200/off=X connects 200 viewers at once next to 20 watching.
// LIVE_BENCH_WINDOW sets the measuring window (default 8s),
// LIVE_BENCH_LEVER_VIEWERS and LIVE_BENCH_JOINERS the 200s.
//
//	go test -run '^$' -bench LiveRelay -benchtime 1x -timeout 30m .
func BenchmarkLiveRelay(b *testing.B) {
	bin := graphtest.BuildMerchd(b)
	window := 8 * time.Second
	if d, err := time.ParseDuration(os.Getenv("LIVE_BENCH_WINDOW")); err == nil {
		window = d
	}
	counts := []int{100, 200, 500}
	if v := os.Getenv("LIVE_BENCH_VIEWERS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				counts = append(counts, n)
			}
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) { benchFanout(b, bin, "", n, window) })
	}
	levers, joiners := envInt("LIVE_BENCH_LEVER_VIEWERS", 200), envInt("LIVE_BENCH_JOINERS", 200)
	for _, off := range []string{"none", "batch", "gcm", "inline", "nack", "all"} {
		b.Run(fmt.Sprintf("levers-off=%s/viewers=%d", off, levers), func(b *testing.B) { benchFanout(b, bin, off, levers, window) })
	}
	for _, off := range []string{"none", "handshakes", "all"} {
		b.Run(fmt.Sprintf("join-storm=%d/off=%s", joiners, off), func(b *testing.B) { benchStorm(b, bin, off, 20, joiners) })
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// leversOff is the relay's MERCHD_LIVE_OFF for a sub-benchmark's name.
func leversOff(off string) []string {
	switch off {
	case "", "none":
		return []string{"MERCHD_LIVE_OFF="}
	case "all":
		return []string{"MERCHD_LIVE_OFF=batch,gcm,inline,handshakes,nack"}
	}
	return []string{"MERCHD_LIVE_OFF=" + off}
}

// benchFanout measures n viewers watching for one window.
func benchFanout(b *testing.B, bin, off string, n int, window time.Duration) {
	rl := startRelay(b, bin, leversOff(off))
	pub := rl.publish(b)
	defer pub.stop()
	time.Sleep(1500 * time.Millisecond) // a keyframe cached
	_, rss0 := procStats(b, rl.pid)
	vs := rl.join(b, n, 20)
	for _, v := range vs {
		v.waitVideo(b, 30*time.Second)
	}
	time.Sleep(2 * time.Second) // settle
	for _, v := range vs {
		v.reset()
	}
	sent0 := pub.sent.Load()
	cpuA, rssA := procStats(b, rl.pid)
	self0, _ := procStats(b, os.Getpid())
	start := time.Now()
	time.Sleep(window)
	elapsed := time.Since(start)
	cpuB, _ := procStats(b, rl.pid)
	self1, _ := procStats(b, os.Getpid())
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
	b.ReportMetric(float64(self1-self0)/ticksPerSecond/elapsed.Seconds()*100, "loadgen-%core")
	b.ReportMetric(float64(rssA-rss0)/1024/float64(n), "MiB/viewer")
	b.ReportMetric(float64(recv)/float64(sent*int64(n))*100, "delivered-%")
	graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
	b.ReportMetric(float64(gaps), "gaps")
}

// benchStorm: watchers viewers play, then joiners connect at once. It
// reports how long until every joiner plays, whether each started at a
// keyframe, the watchers' gaps and p99 added latency during the storm
// (from its start until 2 s after the last joiner plays), and how many
// keyframe requests reached the publisher.
func benchStorm(b *testing.B, bin, off string, watchers, joiners int) {
	rl := startRelay(b, bin, leversOff(off))
	pub := rl.publish(b)
	defer pub.stop()
	time.Sleep(1500 * time.Millisecond)
	ws := rl.join(b, watchers, 20)
	for _, v := range ws {
		v.waitVideo(b, 30*time.Second)
	}
	time.Sleep(time.Second)
	for _, v := range ws {
		v.reset()
	}
	plis0 := pub.plis.Load()
	start := time.Now()
	js := rl.join(b, joiners, joiners)
	for _, v := range js {
		v.waitVideo(b, 30*time.Second)
	}
	allPlaying := time.Since(start)
	time.Sleep(2 * time.Second)
	var lat []time.Duration
	var gaps, joinGaps, notKey int64
	for _, v := range ws {
		_, g, l := v.collect()
		gaps += g
		lat = append(lat, l...)
	}
	for _, v := range js {
		_, g, _ := v.collect()
		joinGaps += g
		if !v.firstKey.Load() {
			notKey++
		}
	}
	b.ReportMetric(allPlaying.Seconds(), "s-until-all-playing")
	graphtest.ReportPercentiles(b, lat, 0.99)
	b.ReportMetric(float64(gaps), "watcher-gaps")
	b.ReportMetric(float64(joinGaps), "joiner-gaps")
	b.ReportMetric(float64(notKey), "joiners-not-at-keyframe")
	b.ReportMetric(float64(pub.plis.Load()-plis0), "PLIs")
}

// join connects n viewers, at most par at a time.
func (rl *relayProc) join(b *testing.B, n, par int) []*benchViewer {
	vs := make([]*benchViewer, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for i := range vs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			vs[i] = rl.view(b)
		})
	}
	wg.Wait()
	return vs
}

const ticksPerSecond = 100 // Linux USER_HZ

type relayProc struct {
	base, stream, key string
	pid               int
}

func startRelay(b *testing.B, bin string, env []string) *relayProc {
	db := filepath.Join(b.TempDir(), "live.db")
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"staff", "create-token", "--database", db, "--email", "live@example.com"}, &tok, io.Discard); err != nil {
		b.Fatal(err)
	}
	staff := strings.TrimSpace(tok.String())
	// Every viewer comes from 127.0.0.1: lift the per-address cap.
	cmdBin, args := bin, []string{"--database", db, "--webrtc-loopback", "--live-max-viewers-per-ip", "1000", "--live-max-viewers", "1000"}
	if a := os.Getenv("LIVE_BENCH_DEBUG_ADDR"); a != "" {
		args = append(args, "--debug-addr", a) // profile the relay: go tool pprof http://$a/debug/pprof/profile
	}
	if tp, err := exec.LookPath("taskset"); err == nil {
		// Pin the relay to core 0: wrap the binary.
		wrapper := filepath.Join(b.TempDir(), "pinned")
		os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+tp+" -c 0 "+bin+" \"$@\"\n"), 0o755)
		cmdBin = wrapper
	}
	base, pid := graphtest.StartServePID(b, cmdBin, env, args...)
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
	plis atomic.Int64 // keyframe requests from the relay
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
	p := &benchPublisher{pc: pc, done: make(chan struct{})}
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		tc, _ := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		go func() {
			for {
				pkts, _, err := tc.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
						p.plis.Add(1)
					}
				}
			}
		}()
	}
	if code, msg := livetest.Exchange(b, pc, rl.base+"/live/"+rl.stream+"/whip", rl.key); code != http.StatusCreated {
		b.Fatalf("publish: %d %s", code, msg)
	}
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
	firstKey   atomic.Bool // the first video packet starts a keyframe
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
				v.once.Do(func() {
					v.firstKey.Store(pkt.Payload[0]&0x1f == 5)
					close(v.video)
				})
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
