package live

import (
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
)

// BenchmarkLoopbackFanout is the floor under the relay's fan-out on
// loopback: one 1,200-byte datagram to each of 200 UDP sockets (each read
// by its own goroutine, as the benchmark's viewers are), queued and sent
// with sendmmsg exactly as a fan-out is, with no WebRTC at all. It reports
// the sending thread's own CPU per datagram (user and system time: on
// loopback the kernel delivers each datagram to its socket, and wakes its
// reader, in the sender's system call) and what that is as a share of a
// core per viewer at the relay benchmark's 260 packets a second.
//
//	go test -run '^$' -bench LoopbackFanout ./live
func BenchmarkLoopbackFanout(b *testing.B) {
	const viewers, size, pps = 200, 1200, 260
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer send.Close()
	_ = send.SetWriteBuffer(udpBuffer)
	c := newBatchConn(send, true)
	addrs := make([]netip.AddrPort, viewers)
	for i := range addrs {
		rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		addrs[i] = rc.LocalAddr().(*net.UDPAddr).AddrPort()
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := rc.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
	}
	pkt := make([]byte, size)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &r0)
	b.ResetTimer()
	for range b.N {
		c.hold()
		for _, a := range addrs {
			_, _ = c.WriteToAddrPort(pkt, a)
		}
		c.release()
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &r1)
	n := float64(b.N * viewers)
	user := float64(syscall.TimevalToNsec(r1.Utime)-syscall.TimevalToNsec(r0.Utime)) / n
	sys := float64(syscall.TimevalToNsec(r1.Stime)-syscall.TimevalToNsec(r0.Stime)) / n
	b.ReportMetric(user, "user-ns/datagram")
	b.ReportMetric(sys, "sys-ns/datagram")
	b.ReportMetric((user+sys)*pps/1e9*100, "%core/viewer")
}
