// Package live relays a creator's stream: WHIP ingest (OBS ≥ 30, phones),
// RTP forwarded without transcoding to WHEP viewers (pion/webrtc). It is a
// leaf: it knows nothing of the shop; the Hooks it is given decide who may
// publish and watch, and hear when streams go live and viewers come and go.
package live

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/webrtc/v4"
)

// Config configures the relay.
type Config struct {
	// ICEServers are STUN/TURN servers offered to peers.
	ICEServers []webrtc.ICEServer
	// UDPPort, when non-zero, carries all media on this one UDP port (ICE
	// UDP mux), so the relay needs one open port behind a firewall or NAT.
	UDPPort int
	// UDPHost is the address the UDP port binds (default all interfaces).
	UDPHost string
	// PublicIPs are announced as host candidates (1:1 NAT).
	PublicIPs []string
	// IncludeLoopback offers 127.0.0.1 candidates (tests, same-host viewers).
	IncludeLoopback bool
	// GOPMaxPackets bounds the cached group of pictures per video track.
	GOPMaxPackets int
	// ViewerQueue bounds packets waiting for one viewer; a slower viewer
	// loses packets instead of holding anyone up.
	ViewerQueue int
	// NACKBuffer is how many sent packets per viewer track can be resent
	// on a NACK (a power of two).
	NACKBuffer uint16
	// MaxViewers bounds the WHEP sessions of one stream, connected or
	// still connecting; the next is refused with 503 and Retry-After.
	MaxViewers int
	// MaxViewersPerIP bounds the WHEP sessions from one address across
	// all streams; the next is refused with 429 and Retry-After.
	MaxViewersPerIP int
	// ViewerConnectTimeout is how long a WHEP session may take to connect
	// (ICE and DTLS) before it is closed and its slot freed. Until it
	// connects, a viewer is not counted.
	ViewerConnectTimeout time.Duration
	// MaxHandshakes bounds DTLS handshakes in progress at once; more wait
	// their turn (a join storm must not starve viewers already watching).
	MaxHandshakes int
}

// DefaultConfig suits a single relay on a public host.
func DefaultConfig() Config {
	return Config{
		GOPMaxPackets: 3000, ViewerQueue: 512, NACKBuffer: 128,
		MaxViewers: 500, MaxViewersPerIP: 8, ViewerConnectTimeout: 15 * time.Second,
		MaxHandshakes: 16,
	}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("live: UDP port %d is not a port", c.UDPPort)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("live: public IP %q is not an IP address", ip)
		}
	}
	if c.GOPMaxPackets < 100 || c.ViewerQueue < 16 {
		return errors.New("live: GOP cache and viewer queue are too small to play anything")
	}
	if c.NACKBuffer == 0 || c.NACKBuffer&(c.NACKBuffer-1) != 0 || c.NACKBuffer > 4096 {
		return fmt.Errorf("live: NACK buffer %d must be a power of two up to 4096", c.NACKBuffer)
	}
	if c.MaxViewers < 1 || c.MaxViewersPerIP < 1 {
		return fmt.Errorf("live: viewer caps must be at least 1 (per stream %d, per address %d)", c.MaxViewers, c.MaxViewersPerIP)
	}
	if c.MaxHandshakes < 1 {
		return fmt.Errorf("live: at least one DTLS handshake must be allowed at a time (got %d)", c.MaxHandshakes)
	}
	if c.ViewerConnectTimeout < time.Second/10 || c.ViewerConnectTimeout > 2*time.Minute {
		return fmt.Errorf("live: viewer connect timeout %v must be between 100ms and 2m", c.ViewerConnectTimeout)
	}
	return nil
}
