package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/live"
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
// one resend buffer per track instead of a copy per viewer track, direct =
// viewer tracks written straight to SRTP with no interceptors, all);
// join-storm=200/off=X connects 200 viewers at once next to 20 watching
// (X: handshakes = bounded DTLS handshakes, dtls = the relay as DTLS server
// without the cookie exchange, pace = paced catch-up, prune = offers pruned to the
// stream's codecs, all).
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
	for _, off := range []string{"none", "batch", "gcm", "inline", "nack", "direct", "all"} {
		b.Run(fmt.Sprintf("levers-off=%s/viewers=%d", off, levers), func(b *testing.B) { benchFanout(b, bin, off, levers, window) })
	}
	for _, off := range []string{"none", "handshakes", "dtls", "pace", "prune", "all"} {
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
		return []string{"MERCHD_LIVE_OFF=batch,gcm,inline,handshakes,nack,direct,dtls,pace,prune"}
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
	prof := rl.profile(b, window)
	drops0 := udpRcvbufErrors()
	cpuA, rssA := procStats(b, rl.pid)
	userA, sysA := procTimes(b, rl.pid)
	self0, _ := procStats(b, os.Getpid())
	start := time.Now()
	time.Sleep(window)
	elapsed := time.Since(start)
	cpuB, _ := procStats(b, rl.pid)
	userB, sysB := procTimes(b, rl.pid)
	self1, _ := procStats(b, os.Getpid())
	prof()
	drops := udpRcvbufErrors() - drops0
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
	b.ReportMetric(float64(userB-userA)/ticksPerSecond/elapsed.Seconds()*100, "relay-user-%core")
	b.ReportMetric(float64(sysB-sysA)/ticksPerSecond/elapsed.Seconds()*100, "relay-sys-%core")
	b.ReportMetric(float64(self1-self0)/ticksPerSecond/elapsed.Seconds()*100, "loadgen-%core")
	b.ReportMetric(float64(rssA-rss0)/1024/float64(n), "MiB/viewer")
	b.ReportMetric(float64(recv)/float64(sent*int64(n))*100, "delivered-%")
	graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
	b.ReportMetric(float64(gaps), "gaps")
	b.ReportMetric(float64(drops), "udp-rcvbuf-drops")
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because
// the receiving socket's buffer was full (all sockets of the host). The
// relay only receives RTCP and handshakes; media dropped this way was
// dropped at a viewer's socket, by a load generator too busy to read it.
func udpRcvbufErrors() int64 {
	raw, _ := os.ReadFile("/proc/net/snmp")
	var names []string
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
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
	drops0 := udpRcvbufErrors()
	// The joiners' peers and offers are made first (a player page has its
	// offer ready before it asks to join; 200 pion peers made at once on
	// the relay's two cores took seconds of the load generator's CPU inside
	// the storm), then every offer is posted at once.
	cpu0, _ := procStats(b, rl.pid)
	self0, _ := procStats(b, os.Getpid())
	prof := rl.profile(b, 2*time.Second) // the relay over the storm
	js, start := rl.storm(b, joiners, 20)
	for _, v := range js {
		v.waitVideo(b, 30*time.Second)
	}
	allPlaying := time.Since(start)
	cpu1, _ := procStats(b, rl.pid)
	defer prof()
	self1, _ := procStats(b, os.Getpid())
	// The CPU over the storm (from the players readied, before start, to
	// all playing; clock ticks of 10 ms).
	b.ReportMetric(float64(cpu1-cpu0)/ticksPerSecond*1000, "relay-cpu-ms")
	b.ReportMetric(float64(self1-self0)/ticksPerSecond*1000, "loadgen-cpu-ms")
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
	b.ReportMetric(float64(udpRcvbufErrors()-drops0), "udp-rcvbuf-drops")
}

// join connects n viewers, at most par at a time.
func (rl *relayProc) join(b *testing.B, n, par int) []*benchViewer {
	vs := make([]*benchViewer, n)
	bounded(n, par, func(i int) {
		vs[i] = rl.player(b)
		rl.connect(b, vs[i])
	})
	return vs
}

// storm readies n players, at most par at a time, and then connects them
// all at once; it returns them and when the first offer was sent.
func (rl *relayProc) storm(b *testing.B, n, par int) ([]*benchViewer, time.Time) {
	vs := make([]*benchViewer, n)
	bounded(n, par, func(i int) { vs[i] = rl.player(b) })
	start := time.Now()
	bounded(n, n, func(i int) { rl.connect(b, vs[i]) })
	return vs, start
}

// bounded runs f(0) … f(n-1), at most par at a time, and waits for them.
func bounded(n, par int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

const ticksPerSecond = 100 // Linux USER_HZ

type relayProc struct {
	base, stream, key string
	pid               int
	debug             string // the relay's --debug-addr (LIVE_BENCH_DEBUG_ADDR)
}

// profile starts a CPU profile of the relay over window when
// LIVE_BENCH_PROFILE names a file (with LIVE_BENCH_DEBUG_ADDR set) and
// returns a func that waits for it and writes it there, the sub-benchmark's
// name appended: go tool pprof -top $LIVE_BENCH_PROFILE.viewers=200.
func (rl *relayProc) profile(b *testing.B, window time.Duration) (wait func()) {
	file := os.Getenv("LIVE_BENCH_PROFILE")
	if file == "" || rl.debug == "" {
		return func() {}
	}
	file += "." + strings.NewReplacer("/", "_", "BenchmarkLiveRelay_", "").Replace(b.Name())
	done := make(chan struct{})
	go func() {
		defer close(done)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", rl.debug, int(window.Seconds()))
		resp, err := http.Get(url)
		if err != nil {
			b.Logf("profile: %v", err)
			return
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(file, raw, 0o644)
		}
		if err != nil {
			b.Logf("profile: %v", err)
		}
	}()
	return func() { <-done }
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
	return &relayProc{base: base, stream: s.CreateStream.Stream.ID, key: s.CreateStream.StreamKey, pid: pid,
		debug: os.Getenv("LIVE_BENCH_DEBUG_ADDR")}
}

// childPID follows the exec of the taskset wrapper (the same pid after exec).
func childPID(pid int) int { return pid }

// procTimes is a process's user and system CPU time in ticks.
func procTimes(b *testing.B, pid int) (user, sys int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	user, _ = strconv.ParseInt(f[11], 10, 64)
	sys, _ = strconv.ParseInt(f[12], 10, 64)
	return user, sys
}

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
	// resource is the WHIP session's URL: DELETE ends the stream.
	resource string
	mu       sync.Mutex
	stamps   []int64 // each packet's send time, as its payload carries it
	wg       sync.WaitGroup
}

func (p *benchPublisher) mark(payload []byte) {
	p.sent.Add(1)
	p.mu.Lock()
	p.stamps = append(p.stamps, int64(binary.BigEndian.Uint64(payload[1:9])))
	p.mu.Unlock()
}

// sentBetween is how many packets were sent in [from, to).
func (p *benchPublisher) sentBetween(from, to time.Time) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, ts := range p.stamps {
		if ts >= from.UnixNano() && ts < to.UnixNano() {
			n++
		}
	}
	return n
}

func (rl *relayProc) publish(b testing.TB) *benchPublisher {
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
	code, msg := livetest.Exchange(b, pc, rl.base+"/live/"+rl.stream+"/whip", rl.key)
	if code != http.StatusCreated {
		b.Fatalf("publish: %d %s", code, msg)
	}
	p.resource = rl.base + msg
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
					p.mark(pkt.Payload)
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
				p.mark(pkt.Payload)
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

// player builds a viewer's peer with its offer ready (what a player page
// has done before it asks to join): connect joins it.
func (rl *relayProc) player(b *testing.B) *benchViewer {
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
	livetest.Offer(b, pc)
	return v
}

// connect posts v's offer to the relay.
func (rl *relayProc) connect(b *testing.B, v *benchViewer) {
	if code, msg := livetest.Post(b, v.pc, rl.base+"/live/"+rl.stream+"/whep", ""); code != http.StatusCreated {
		b.Fatalf("view: %d %s", code, msg)
	}
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

// A stream beyond one machine (README, "Live across nodes"): an origin and
// relay nodes, real `merchd serve` processes on one PostgreSQL.
type cascadeNodes struct {
	origin *graphtest.Process
	relays []*graphtest.Process
	db     string
	rl     *relayProc // the stream, published at the origin
	staff  string
}

func startCascade(tb testing.TB, originCap, relayCap, relays int) *cascadeNodes {
	db := graphtest.NewPostgresDB(tb) // skips without MERCHD_TEST_POSTGRES
	bin := graphtest.BuildMerchd(tb)
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"staff", "create-token", "--database", db, "--email", "live@example.com"}, &tok, io.Discard); err != nil {
		tb.Fatal(err)
	}
	c := &cascadeNodes{db: db, staff: strings.TrimSpace(tok.String())}
	args := func(capacity int) []string {
		return []string{"serve", "--addr", "127.0.0.1:0", "--database", db, "--webrtc-loopback",
			"--live-max-viewers-per-ip", "2000", "--live-max-viewers", "2000", "--live-node-capacity", strconv.Itoa(capacity),
			// Longer than any wait below: a relay that stops relaying does
			// so because its origin stopped, not for want of viewers.
			"--live-relay-grace", "30s"}
	}
	c.origin = graphtest.StartCommand(tb, bin, nil, args(originCap)...)
	c.relays = make([]*graphtest.Process, relays)
	var wg sync.WaitGroup
	for i := range c.relays {
		wg.Go(func() { c.relays[i] = graphtest.StartCommand(tb, bin, nil, args(relayCap)...) })
	}
	wg.Wait()
	var s struct {
		CreateStream struct {
			Stream    struct{ ID string }
			StreamKey string
		}
	}
	r := graphtest.Post(tb, c.origin.URL+"/query", c.staff, map[string]any{"query": `mutation { createStream(input: {title: "cascade"}) { stream { id } streamKey } }`})
	r.Decode(tb, &s)
	c.rl = &relayProc{base: c.origin.URL, stream: s.CreateStream.Stream.ID, key: s.CreateStream.StreamKey}
	return c
}

// viewerCount is the stream's viewer count as node at base reports it.
func (c *cascadeNodes) viewerCount(tb testing.TB, base string) int {
	var out struct {
		Node struct{ ViewerCount int }
	}
	graphtest.Post(tb, base+"/query", c.staff, map[string]any{"query": `query($id: ID!) { node(id: $id) { ... on Stream { viewerCount } } }`,
		"variables": map[string]any{"id": c.rl.stream}}).Decode(tb, &out)
	return out.Node.ViewerCount
}

// waitCounts waits (bounded) until every node at bases reports want.
func (c *cascadeNodes) waitCounts(tb testing.TB, want int, bases ...string) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got []int
		ok := true
		for _, b := range bases {
			n := c.viewerCount(tb, b)
			got = append(got, n)
			ok = ok && n == want
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("viewer counts per node %v, want %d on each", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// player is a WHEP viewer that behaves like a real player: it POSTs to the
// stream's WHEP URL it was given (following 307s to the node that serves
// it), and when the picture stalls (no video for stallAfter) or the
// connection fails, it drops the connection and POSTs to the same URL
// again, retrying with backoff until it plays.
type player struct {
	tb    testing.TB
	entry string

	mu         sync.Mutex
	pc         *webrtc.PeerConnection
	gen        int
	node       string // base URL of the node serving it
	recv, gaps int64
	lat        []time.Duration
	lastSeq    map[webrtc.RTPCodecType]uint16
	lastVideo  time.Time
	// from, to is the measurement window: packets sent in it count once
	// each (in recv, gaps and lat), whenever they arrive.
	from, to   time.Time
	got        map[uint32]bool
	playing    chan struct{} // closed at the first video of a connection
	playingAt  time.Time     // when it was closed
	reconnects int
	stopped    bool
	stop       chan struct{}
	wg         sync.WaitGroup
}

const stallAfter = 600 * time.Millisecond

func newPlayer(tb testing.TB, entry string) *player {
	p := &player{tb: tb, entry: entry, stop: make(chan struct{}), lastSeq: map[webrtc.RTPCodecType]uint16{}, playing: make(chan struct{}), got: map[uint32]bool{}}
	if err := p.connect(); err != nil {
		tb.Fatalf("player: %v", err)
	}
	p.wg.Go(p.watch)
	tb.Cleanup(p.close)
	return p
}

func (p *player) close() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.stop)
	}
	pc := p.pc
	p.mu.Unlock()
	p.wg.Wait()
	if pc != nil {
		pc.Close()
	}
}

// connect POSTs an offer to the entry URL, following redirects, retrying
// for up to 10 s.
func (p *player) connect() error {
	var last error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 30; attempt++ {
		select {
		case <-p.stop:
			return errors.New("stopped")
		default:
		}
		if last = p.try(); last == nil {
			return nil
		}
		time.Sleep(wait) // backoff between attempts, as a player does
		wait = min(2*wait, 500*time.Millisecond)
	}
	return last
}

func (p *player) try() error {
	pc, err := livetest.ClientAPI(p.tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	p.mu.Lock()
	p.gen++
	gen := p.gen
	p.mu.Unlock()
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.read(gen, tr) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	res, err := http.Post(p.entry, "application/sdp", strings.NewReader(pc.LocalDescription().SDP)) // follows 307
	if err != nil {
		pc.Close()
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		pc.Close()
		return fmt.Errorf("WHEP POST: %s: %s", res.Status, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		pc.Close()
		return err
	}
	p.mu.Lock()
	p.pc, p.node = pc, res.Request.URL.Scheme+"://"+res.Request.URL.Host
	p.lastVideo = time.Now() // the stall clock starts now
	p.lastSeq = map[webrtc.RTPCodecType]uint16{}
	p.mu.Unlock()
	return nil
}

func (p *player) read(gen int, tr *webrtc.TrackRemote) {
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
		p.mu.Lock()
		if gen != p.gen {
			p.mu.Unlock()
			return
		}
		in := !sentAt.Before(p.from) && sentAt.Before(p.to)
		if last, ok := p.lastSeq[kind]; ok && in && pkt.SequenceNumber != last+1 && pkt.SequenceNumber-last < 0x8000 {
			p.gaps++
		}
		p.lastSeq[kind] = pkt.SequenceNumber
		if key := uint32(kind)<<16 | uint32(pkt.SequenceNumber); in && !p.got[key] {
			p.got[key] = true
			p.recv++
			p.lat = append(p.lat, now.Sub(sentAt))
		}
		if kind == webrtc.RTPCodecTypeVideo {
			p.lastVideo = now
			select {
			case <-p.playing:
			default:
				close(p.playing)
				p.playingAt = now
			}
		}
		p.mu.Unlock()
	}
}

// watch reconnects a stalled player.
func (p *player) watch() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		limit := 10 * time.Second // to start playing
		select {
		case <-p.playing:
			limit = stallAfter // to keep playing
		default:
		}
		stalled := time.Since(p.lastVideo) > limit
		st := p.pc.ConnectionState()
		old := p.pc
		if stalled || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			p.reconnects++
			p.playing = make(chan struct{})
			p.gen++ // the old connection's packets no longer count
		} else {
			old = nil
		}
		p.mu.Unlock()
		if old != nil {
			old.Close()
			if err := p.connect(); err != nil {
				select {
				case <-p.stop: // closed meanwhile
				default:
					p.tb.Errorf("player could not reconnect: %v", err)
				}
				return
			}
		}
	}
}

func (p *player) waitPlaying(tb testing.TB, d time.Duration) {
	tb.Helper()
	p.mu.Lock()
	ch := p.playing
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(d):
		p.mu.Lock()
		defer p.mu.Unlock()
		tb.Fatalf("a player got no video within %v (at %s, %d reconnects)", d, p.node, p.reconnects)
	}
}

func (p *player) at() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.node
}

// measure starts a measurement window of packets sent in [from, to).
func (p *player) measure(from, to time.Time) {
	p.mu.Lock()
	p.recv, p.gaps, p.lat, p.from, p.to, p.got = 0, 0, nil, from, to, map[uint32]bool{}
	p.mu.Unlock()
}

func (p *player) collect() (int64, int64, []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recv, p.gaps, append([]time.Duration(nil), p.lat...)
}

// cascadeRun is one measured run: n players entering at the origin.
type cascadeRun struct {
	c   *cascadeNodes
	pub *benchPublisher
	ps  []*player
}

func runCascade(tb testing.TB, n, originCap, relayCap int, join time.Duration) *cascadeRun {
	c := startCascade(tb, originCap, relayCap, 2)
	pub := c.rl.publish(tb)
	tb.Cleanup(pub.stop)
	time.Sleep(1500 * time.Millisecond) // a keyframe cached at the origin
	entry := c.origin.URL + "/live/" + c.rl.stream + "/whep"
	ps := make([]*player, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range ps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ps[i] = newPlayer(tb, entry)
		})
	}
	wg.Wait()
	for _, p := range ps {
		p.waitPlaying(tb, join)
	}
	return &cascadeRun{c: c, pub: pub, ps: ps}
}

// window measures delivery of the packets sent over the next d: received
// (each once, whenever it arrives) / (sent × players), gaps, and latency
// per node.
func (r *cascadeRun) window(d time.Duration) (delivered float64, gaps int64, lat map[string][]time.Duration) {
	from := time.Now()
	to := from.Add(d)
	for _, p := range r.ps {
		p.measure(from, to)
	}
	time.Sleep(d + time.Second) // the window, and a second for what is in flight
	sent := r.pub.sentBetween(from, to)
	var recv int64
	lat = map[string][]time.Duration{}
	for _, p := range r.ps {
		rv, g, l := p.collect()
		recv += rv
		gaps += g
		lat[p.at()] = append(lat[p.at()], l...)
	}
	return float64(recv) / float64(sent*int64(len(r.ps))), gaps, lat
}

func (r *cascadeRun) perNode() map[string]int {
	m := map[string]int{}
	for _, p := range r.ps {
		m[p.at()]++
	}
	return m
}

func pct(l []time.Duration, q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// TestLiveCascade: an origin taking 5 viewers and two relay nodes, three
// real processes on one PostgreSQL. 30 players enter at the origin; 25 are
// redirected to the relays, which pull the stream once each. Delivery is
// ≥ 99.9 %, every node reports the stream's 30 viewers (the relays' pulls
// are not viewers). A relay is killed: its players come back through the
// origin to the other relay within 3 s and the counts are 30 again. The
// publisher stops: the relay stops relaying.
func TestLiveCascade(t *testing.T) {
	const n = 30
	r := runCascade(t, n, 5, 100, 20*time.Second)
	c := r.c
	nodes := r.perNode()
	t.Logf("players per node: %v (origin %s)", nodes, c.origin.URL)
	// The origin takes 5 sessions; a relay's pull is one of them when it
	// starts before the origin's fifth player, so 3 to 5 players stay there.
	if o := nodes[c.origin.URL]; o < 3 || o > 5 || nodes[c.relays[0].URL] == 0 || nodes[c.relays[1].URL] == 0 ||
		o+nodes[c.relays[0].URL]+nodes[c.relays[1].URL] != n {
		t.Fatalf("players per node %v: want 3 to 5 at the origin (5 sessions, the relays' pulls among them), the rest on both relays", nodes)
	}
	c.waitCounts(t, n, c.origin.URL, c.relays[0].URL, c.relays[1].URL)
	delivered, gaps, lat := r.window(3 * time.Second)
	t.Logf("delivered %.3f%%, %d gaps, p99 origin %v, p99 relayed %v", delivered*100, gaps, pct(lat[c.origin.URL], .99),
		pct(append(lat[c.relays[0].URL], lat[c.relays[1].URL]...), .99))
	if delivered < 0.999 {
		t.Fatalf("delivered %.3f%% < 99.9%%", delivered*100)
	}

	// A viewer claiming to be a node is refused, whatever it claims: the
	// pull header carries a node's credential, checked in the registry.
	for _, forged := range []string{"1", "0123456789abcdef01234567.00", strings.Repeat("a", 24) + "." + strings.Repeat("b", 48)} {
		pc, err := livetest.ClientAPI(t).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		offer, _ := pc.CreateOffer(nil)
		req, _ := http.NewRequest(http.MethodPost, c.origin.URL+"/live/"+c.rl.stream+"/whep", strings.NewReader(offer.SDP))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set(live.PullHeader, forged)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		pc.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("a pull with the forged credential %q: %d, want 403", forged, res.StatusCode)
		}
	}

	// What is not an offer never gets routed (routing may start a pull):
	// refused at once, whatever hop it claims.
	for _, hop := range []string{"", "?hop=1", "?hop=-1000000"} {
		res, err := http.Post(c.relays[0].URL+"/live/"+c.rl.stream+"/whep"+hop, "application/sdp", strings.NewReader("not an offer"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("a non-offer with %q: %d, want 400", hop, res.StatusCode)
		}
	}

	// Kill the relay with the most players.
	dead, alive := c.relays[0], c.relays[1]
	if nodes[c.relays[1].URL] > nodes[c.relays[0].URL] {
		dead, alive = alive, dead
	}
	var moved []*player
	for _, p := range r.ps {
		if p.at() == dead.URL {
			moved = append(moved, p)
		}
	}
	killed := time.Now()
	dead.Kill(t)
	var worst time.Duration
	for _, p := range moved {
		deadline := time.Now().Add(10 * time.Second)
		for p.at() == dead.URL || !isPlaying(p) {
			if time.Now().After(deadline) {
				t.Fatalf("a player of the killed relay is not playing 10 s later (at %s)", p.at())
			}
			time.Sleep(10 * time.Millisecond)
		}
		p.mu.Lock()
		back := p.playingAt.Sub(killed)
		p.mu.Unlock()
		worst = max(worst, back)
	}
	t.Logf("%d players of the killed relay playing again on %v within %v", len(moved), r.perNode(), worst.Round(time.Millisecond))
	if worst > 3*time.Second {
		t.Fatalf("players took %v to come back, want ≤ 3 s", worst)
	}
	for _, p := range moved {
		if p.at() != alive.URL {
			t.Fatalf("a player came back on %s, want the live relay %s", p.at(), alive.URL)
		}
	}
	c.waitCounts(t, n, c.origin.URL, alive.URL)
	store, err := entdb.Open(context.Background(), entdb.Config{URL: c.db})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sys := viewer.SystemContext(context.Background())
	waitRows := func(what string, want int, count func() int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := count()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d %s, want %d", got, what, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The dead relay's rows are cleaned up by the live nodes.
	waitRows("live nodes registered", 2, func() int { return store.Client.LiveNode.Query().CountX(sys) })
	delivered, gaps, _ = r.window(3 * time.Second)
	t.Logf("after the kill: delivered %.3f%%, %d gaps", delivered*100, gaps)
	if delivered < 0.999 {
		t.Fatalf("after the kill: delivered %.3f%% < 99.9%%", delivered*100)
	}

	// The overlay on the relay follows the stream's count across nodes:
	// all players leave (most of them here, five at the origin) and it says 0.
	ov := c.overlay(t, alive.URL)
	ov.waitViewers(t, n)
	for _, p := range r.ps {
		p.close()
	}
	ov.waitViewers(t, 0)

	// The publisher ends: the relay stops relaying (no node carries it).
	req, _ := http.NewRequest(http.MethodDelete, r.pub.resource, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("WHIP DELETE: %v %v", res, err)
	}
	res.Body.Close()
	waitRows("nodes carrying the stream after its publisher left", 0, func() int { return store.Client.LiveNodeStream.Query().CountX(sys) })
}

// overlaySub is a streamOverlay subscription on one node.
type overlaySub struct{ ws *websocket.Conn }

func (c *cascadeNodes) overlay(tb testing.TB, base string) *overlaySub {
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial("ws"+strings.TrimPrefix(base, "http")+"/query", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	ws.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	ws.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($s: ID!) { streamOverlay(streamId: $s) { viewerCount } }`, "variables": map[string]any{"s": c.rl.stream}}})
	return &overlaySub{ws}
}

// waitViewers reads overlay events until one says want viewers (bounded).
func (o *overlaySub) waitViewers(tb testing.TB, want int) {
	tb.Helper()
	o.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	var seen []int
	for {
		var m struct {
			Type    string
			Payload struct {
				Data struct{ StreamOverlay struct{ ViewerCount int } }
			}
		}
		if err := o.ws.ReadJSON(&m); err != nil {
			tb.Fatalf("overlay: waiting for %d viewers, saw %v: %v", want, seen, err)
		}
		if m.Type != "next" {
			continue
		}
		got := m.Payload.Data.StreamOverlay.ViewerCount
		seen = append(seen, got)
		if got == want {
			return
		}
	}
}

// isPlaying reports whether p's current connection is playing.
func isPlaying(p *player) bool {
	p.mu.Lock()
	ch := p.playing
	p.mu.Unlock()
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// BenchmarkLiveCascade: N players entering at an origin that takes a
// third of them, the rest redirected to two relay nodes (each pulling the
// stream once); reports players per node, delivery, and p50/p99 latency at
// the origin and one hop further, and their difference (the second hop's
// cost). viewers=300 (the size) needs a quiet machine: the players (pion peers in
// this process) and the three nodes share its cores.
//
//	MERCHD_TEST_POSTGRES=... go test -run '^$' -bench LiveCascade -benchtime 1x .
func BenchmarkLiveCascade(b *testing.B) {
	for _, n := range []int{90, 180, 300} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			r := runCascade(b, n, n/3, n/2, 60*time.Second)
			c := r.c
			nodes := r.perNode()
			time.Sleep(2 * time.Second) // settle
			delivered, gaps, lat := r.window(8 * time.Second)
			relayed := append(lat[c.relays[0].URL], lat[c.relays[1].URL]...)
			b.ReportMetric(float64(nodes[c.origin.URL]), "viewers-origin")
			b.ReportMetric(float64(nodes[c.relays[0].URL]), "viewers-relay1")
			b.ReportMetric(float64(nodes[c.relays[1].URL]), "viewers-relay2")
			b.ReportMetric(delivered*100, "delivered-%")
			b.ReportMetric(float64(gaps), "gaps")
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(pct(lat[c.origin.URL], .5)), "origin-p50-ms")
			b.ReportMetric(ms(pct(lat[c.origin.URL], .99)), "origin-p99-ms")
			b.ReportMetric(ms(pct(relayed, .5)), "relayed-p50-ms")
			b.ReportMetric(ms(pct(relayed, .99)), "relayed-p99-ms")
			b.ReportMetric(ms(pct(relayed, .5)-pct(lat[c.origin.URL], .5)), "second-hop-p50-ms")
		})
	}
}
