package live

import (
	"strings"

	"github.com/pion/rtp"
)

// isKeyframeStart reports whether pkt begins a keyframe, so a viewer can
// start decoding there.
func isKeyframeStart(mime string, pkt *rtp.Packet) bool {
	p := pkt.Payload
	if len(p) == 0 {
		return false
	}
	switch strings.ToLower(mime) {
	case "video/h264":
		return h264Keyframe(p)
	case "video/vp8":
		return vp8Keyframe(p)
	}
	return false
}

// h264Keyframe: an SPS or IDR NAL unit, alone, in a STAP-A, or starting a FU-A.
func h264Keyframe(p []byte) bool {
	switch nal := p[0] & 0x1f; nal {
	case 5, 7:
		return true
	case 24: // STAP-A: 2-byte sizes, then NAL units
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if t := p[i] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += size
		}
	case 28: // FU-A: start bit and the fragmented NAL's type
		return len(p) > 1 && p[1]&0x80 != 0 && (p[1]&0x1f == 5 || p[1]&0x1f == 7)
	}
	return false
}

// vp8Keyframe: the start of partition 0 of a frame whose P bit is clear.
func vp8Keyframe(p []byte) bool {
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // PictureID
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // TID/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}
