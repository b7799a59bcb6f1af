package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/runtime"
)

// Server serves an app's control socket.
type Server struct {
	app  *runtime.App
	path string
	ln   *net.UnixListener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
}

// Listen makes the control socket at path (see SocketPath). The caller must own the app's
// state: a socket file left at path by a killed owner is removed.
func Listen(app *runtime.App, path string) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// A socket's own mode is not checked by every system: its folder must be private.
		if err := os.Chmod(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		}
	}
	os.Remove(path)
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return &Server{app: app, path: path, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Serve answers connections until ctx ends; then it stops accepting, cancels the work in
// progress (its clients get the error) and waits for it to end.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				s.wg.Wait()
				return nil
			}
			return fmt.Errorf("control: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			s.handle(ctx, conn)
		}()
	}
}

// Close stops the server: the socket goes, and connections are closed.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	return s.ln.Close()
}

// handle serves one connection: one request, its frames.
func (s *Server) handle(ctx context.Context, conn *net.UnixConn) {
	fw := &frames{enc: json.NewEncoder(conn)}
	fw.enc.SetEscapeHTML(false)
	fail := func(err error) {
		fw.send(Frame{Done: true, Error: &Failure{Code: elements.CodeOf(err), Message: s.app.Redactor().String(err.Error())}})
	}
	if err := samePeer(conn); err != nil {
		fail(err)
		return
	}
	r := bufio.NewReader(io.LimitReader(conn, maxRequest))
	line, err := r.ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		fail(elements.Errorf(elements.CodeInvalidArgument, "control: not a request: %v", err))
		return
	}
	// The work ends when its client goes away: the client sends nothing more, so a read
	// returns only when the connection closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, r)
		cancel()
	}()
	res, err := s.do(ctx, req, fw)
	if err != nil {
		fail(err)
		return
	}
	fw.send(Frame{Done: true, Result: res})
}

// do runs a request as the running app's own caller would.
func (s *Server) do(ctx context.Context, req Request, fw *frames) (res json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.app.Recovered("control "+req.Op, r)
		}
	}()
	log := s.app.Logger()
	switch req.Op {
	case "exec":
		log.Info("running a script sent by jitrt exec", "script", req.Name)
		ctx = elements.WithActor(ctx, elements.Actor{Kind: "script", ID: req.Name, Via: "jitrt exec"})
		out, err := s.app.Host().Run(ctx, runtime.Script{Name: req.Name, Code: req.Code, Timeout: req.Timeout,
			Stdout: stream{fw: fw}, Stderr: stream{fw: fw, err: true}})
		if err != nil {
			return nil, err
		}
		return out.JSON, nil
	case "call":
		log.Info("calling a method for jitrt call", "element", req.Element, "method", req.Method)
		var body any
		if len(req.Args) > 0 {
			if err := json.Unmarshal(req.Args, &body); err != nil {
				return nil, elements.Errorf(elements.CodeInvalidArgument, "the arguments are not valid JSON: %v", err)
			}
		}
		if req.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, req.Timeout)
			defer cancel()
		}
		v, err := s.app.CallJSON(elements.WithActor(ctx, elements.Actor{Kind: "call", Via: "jitrt call"}), req.Element, req.Method, body)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("the result cannot be encoded as JSON: %w", err)
		}
		return json.RawMessage(s.app.Redactor().String(string(b))), nil
	case "org":
		v, err := org.Query(s.app, req.Element, req.View, req.Args)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(s.app.Redactor().String(string(b))), nil
	}
	return nil, elements.Errorf(elements.CodeInvalidArgument, "control: unknown op %q", req.Op)
}

// samePeer refuses a connection from another user than the server's.
func samePeer(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != os.Getuid() {
		return errors.New("control: only the user running the app may use its control socket")
	}
	return nil
}
