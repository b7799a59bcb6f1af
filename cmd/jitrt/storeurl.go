package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// A database URL on the command line is in every process listing (ps, /proc/PID/cmdline)
// with its password. So --store, --to and --from take env:NAME, the URL read from the
// environment variable NAME; a URL with a password given directly still works, with a
// warning that says how to keep it out of argv.

// envPrefix marks a flag value that names an environment variable.
const envPrefix = "env:"

// databaseURL is the URL a --store, --to or --from value stands for: the value, or the
// variable it names (env:NAME). A password in the value itself is warned of on warn.
func databaseURL(flag, value string, warn io.Writer) (string, error) {
	if name, ok := strings.CutPrefix(value, envPrefix); ok {
		v, set := os.LookupEnv(name)
		if !set || v == "" {
			return "", usageError{fmt.Errorf("--%s %s: the environment variable %s is not set", flag, value, name)}
		}
		return v, nil
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			fmt.Fprintf(warn, "jitrt: warning: --%s holds a password, which other users of this machine can read in the process list; put the URL in a variable and give --%s env:NAME\n", flag, flag)
		}
	}
	return value, nil
}
