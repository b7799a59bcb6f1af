// Package control is the local door of a running app: jitrt run serves it on a Unix socket
// (mode 0600, in a folder only its user can enter, answering only that user), and jitrt exec
// and jitrt call send their work through it, so that the process that owns the app's state
// does every write, and the writes are live in it at once.
//
// The protocol is JSON lines: the client sends one Request; the server answers with Frames,
// console output as it is printed, and a last Frame with Done set.
package control

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Request is one piece of work.
type Request struct {
	// Op is "exec" (run Code), "call" (call Method of Element with Args) or "org" (the
	// View of the org Element is, with Args).
	Op string `json:"op"`
	// View is an org's view (org.Query).
	View string `json:"view,omitempty"`
	// Name is the script's name in errors (exec).
	Name string `json:"name,omitempty"`
	Code string `json:"code,omitempty"`
	// Element, Method and Args are a call; Args is a JSON array (positional) or object (by
	// name), or empty.
	Element string          `json:"element,omitempty"`
	Method  string          `json:"method,omitempty"`
	Args    json.RawMessage `json:"args,omitempty"`
	// Timeout is the run's time limit (the server's when zero).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Frame is one message of an answer.
type Frame struct {
	Stdout string          `json:"out,omitempty"`
	Stderr string          `json:"err,omitempty"`
	Done   bool            `json:"done,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Failure        `json:"error,omitempty"`
}

// Failure is the error of a piece of work, as the server's own caller would have seen it.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (f *Failure) Error() string { return f.Message }

// ErrorCode is the failure's code (elements.CodeOf reads it).
func (f *Failure) ErrorCode() string { return f.Code }

// maxRequest bounds a request (a script's code).
const maxRequest = 16 << 20

// SocketPath is where the owner of the state in dataDir serves: the data folder itself,
// unless that path is too long for a Unix socket (about 100 bytes), in which case a folder
// of the user's own in the temporary directory.
func SocketPath(dataDir string) string {
	p := filepath.Join(dataDir, "control.sock")
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(os.TempDir(), "jitrt-"+strconv.Itoa(os.Getuid()), hex.EncodeToString(sum[:8])+".sock")
}

// Client is a connection to a running app.
type Client struct{ conn net.Conn }

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn}, nil
}

// Close closes the connection; work in progress on the server is cancelled.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends the request and copies console output to stdout and stderr as it comes. It
// returns the result (JSON, nil when there is none) or the work's error as a *Failure.
// When ctx ends the connection is closed, which cancels the work.
func (c *Client) Do(ctx context.Context, req Request, stdout, stderr io.Writer) (json.RawMessage, error) {
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("control: send: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(c.conn))
	for {
		var f Frame
		if err := dec.Decode(&f); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil, errors.New("control: the running app closed the connection before it answered")
			}
			return nil, fmt.Errorf("control: read the answer: %w", err)
		}
		if f.Stdout != "" {
			io.WriteString(stdout, f.Stdout)
		}
		if f.Stderr != "" {
			io.WriteString(stderr, f.Stderr)
		}
		if f.Done {
			if f.Error != nil {
				return nil, f.Error
			}
			return f.Result, nil
		}
	}
}

// frames writes frames to a connection, one at a time.
type frames struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (fw *frames) send(f Frame) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.enc.Encode(f)
}

// stream is an io.Writer whose writes become frames.
type stream struct {
	fw  *frames
	err bool
}

func (s stream) Write(p []byte) (int, error) {
	f := Frame{Stdout: string(p)}
	if s.err {
		f = Frame{Stderr: string(p)}
	}
	if err := s.fw.send(f); err != nil {
		return 0, err
	}
	return len(p), nil
}
