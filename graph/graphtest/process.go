package graphtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// addrRE and debugAddrRE find the addresses in merchd's log lines.
var (
	addrRE      = regexp.MustCompile(`"msg":"merchd serving","addr":"([^"]+)"`)
	debugAddrRE = regexp.MustCompile(`"msg":"debug endpoints on","addr":"([^"]+)"`)
)

// ServingAddr is the address in merchd's "serving" log line, if line is it.
func ServingAddr(line string) (string, bool) {
	if m := addrRE.FindStringSubmatch(line); m != nil {
		return m[1], true
	}
	return "", false
}

// DebugAddr is the address in merchd's "debug endpoints on" log line (the
// one it got, with --debug-addr 127.0.0.1:0), if line is it.
func DebugAddr(line string) (string, bool) {
	if m := debugAddrRE.FindStringSubmatch(line); m != nil {
		return m[1], true
	}
	return "", false
}

// BuildMerchd compiles the binary once per test run (the first caller
// builds; the others wait for it and share the result).
func BuildMerchd(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "merchd-test-bin")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "merchd")
		if out, err := buildCmd(built.bin).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// Main runs a package's tests and then removes the binary BuildMerchd
// built: call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		_ = os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// buildCmd builds the merchd command (the module's root package) to bin,
// from whichever package's directory the test runs in.
func buildCmd(bin string) *exec.Cmd {
	cmd := exec.Command("go", "build", "-o", bin, module)
	return cmd
}

const module = "github.com/merchd/merchd"

// StartServe runs `merchd serve` and returns its base URL.
func StartServe(t testing.TB, bin string, env []string, args ...string) string {
	url, _ := StartServePID(t, bin, env, args...)
	return url
}

// StartServePID is StartServe that also returns the process id.
func StartServePID(t testing.TB, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	p := StartCommand(t, bin, env, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	return p.URL, p.Cmd.Process.Pid
}

// Process is a merchd process a test started.
type Process struct {
	URL string
	// DebugAddr is where it serves --debug-addr, if asked to.
	DebugAddr string
	Cmd       *exec.Cmd
	exited    chan struct{}
	err       error // valid once exited is closed
}

// Kill SIGKILLs the process and waits until it is gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("merchd still running 20s after SIGKILL")
	}
}

// StartCommand runs merchd with args (a subcommand first) and returns once
// it serves. At cleanup it is stopped with SIGTERM and must exit cleanly,
// unless the test killed it.
func StartCommand(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := DebugAddr(sc.Text()); ok {
				p.DebugAddr = a // logged before it serves: read after addr
			}
			if a, ok := ServingAddr(sc.Text()); ok {
				addr <- a
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return // killed by the test
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.err != nil {
				t.Errorf("merchd exited with %v after SIGTERM", p.err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("merchd did not stop within 20s of SIGTERM")
		}
	})
	select {
	case a := <-addr:
		p.URL = "http://" + a
		return p
	case <-p.exited:
		t.Fatalf("merchd exited before serving: %v", p.err)
	case <-time.After(60 * time.Second):
		t.Fatal("merchd did not start")
	}
	return nil
}
