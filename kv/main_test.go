package kv

import (
	"os"
	"testing"

	"github.com/jitrt/jitrt/internal/pgtest"
)

// TestMain stops the package's one PostgreSQL server (pgtest.Database) when the tests end.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
