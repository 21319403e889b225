package hardware

import (
	"bytes"
	"io"
	"net"
	"sync"
)

// PrinterSimulator is a printer on TCP (127.0.0.1:0) that records what it
// receives and answers ESC/POS status queries like a real one.
type PrinterSimulator struct {
	ln net.Listener

	mu       sync.Mutex
	received [][]byte
	paperOut bool
	wg       sync.WaitGroup
}

// NewPrinterSimulator listens on a free loopback port.
func NewPrinterSimulator() (*PrinterSimulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &PrinterSimulator{ln: ln}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the simulator's host:port.
func (s *PrinterSimulator) Addr() string { return s.ln.Addr().String() }

// SetPaperOut makes the paper sensor report an empty roll.
func (s *PrinterSimulator) SetPaperOut(out bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paperOut = out
}

// Jobs returns each connection's printable bytes (status queries removed).
func (s *PrinterSimulator) Jobs() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, j := range s.received {
		if len(j) > 0 {
			out = append(out, bytes.Clone(j))
		}
	}
	return out
}

// Close stops listening.
func (s *PrinterSimulator) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *PrinterSimulator) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(c)
		}()
	}
}

func (s *PrinterSimulator) handle(c net.Conn) {
	var job []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			if i := bytes.Index(data, []byte{dle, eot}); i >= 0 && i+2 < len(data) {
				job = append(job, data[:i]...)
				s.mu.Lock()
				out := s.paperOut
				s.mu.Unlock()
				status := byte(0x12) // fixed bits of every status byte
				switch data[i+2] {
				case 2:
					if out {
						status |= 0x20
					}
				case 4:
					if out {
						status |= 0x60
					}
				}
				_, _ = c.Write([]byte{status})
				data = data[i+3:]
				continue
			}
			job = append(job, data...)
			break
		}
		if err == io.EOF || err != nil {
			s.mu.Lock()
			s.received = append(s.received, job)
			s.mu.Unlock()
			return
		}
	}
}
