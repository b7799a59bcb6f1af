package tasks

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
)

func elementWith(def map[string]any, loc *time.Location) *elements.Element {
	return &elements.Element{FullName: "tasks.T", Name: "T", Definition: def, Location: loc, Dir: "/nonexistent"}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
func contains(s, sub string) bool               { return strings.Contains(s, sub) }
