package loader

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jitrt/jitrt/internal/jsonpos"
)

// Problem is one thing wrong in an app, at a place in a file.
type Problem struct {
	// Path is the file, relative to the app root, with forward slashes.
	Path string
	Pos  jsonpos.Pos
	Msg  string
	// Warning marks what does not stop anything from loading but should be fixed.
	Warning bool
}

// String formats the problem as path:line:col: message (path:line:col: warning: message),
// the form editors and CI tools parse.
func (p Problem) String() string {
	line, col := p.Pos.Line, p.Pos.Col
	if line == 0 {
		line, col = 1, 1
	}
	if p.Warning {
		return fmt.Sprintf("%s:%d:%d: warning: %s", p.Path, line, col, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.Path, line, col, p.Msg)
}

// Problems is a list of problems; as an error it reads as one problem a line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems by file and position.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		if ps[i].Pos.Line != ps[j].Pos.Line {
			return ps[i].Pos.Line < ps[j].Pos.Line
		}
		return ps[i].Pos.Col < ps[j].Pos.Col
	})
}

// problemAt turns a parse error into a problem in file path.
func problemAt(path string, err error) Problem {
	if se, ok := err.(*jsonpos.SyntaxError); ok {
		return Problem{Path: path, Pos: se.Pos, Msg: "invalid JSON: " + se.Msg}
	}
	return Problem{Path: path, Pos: jsonpos.Pos{Line: 1, Col: 1}, Msg: err.Error()}
}
