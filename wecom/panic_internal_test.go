package wecom

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A panic in a goroutine of the client's — a token fetch, a fetch worker — is the error of
// the call that waited on it, recorded through OnPanic; the client works on after it.
func TestAPanicInAClientGoroutineIsTheCallsError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/gettoken"):
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","access_token":"tok","expires_in":7200}`)
		case strings.HasSuffix(r.URL.Path, "/department/list"):
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","department":[{"id":1,"name":"root","parentid":0,"order":1}]}`)
		case strings.HasSuffix(r.URL.Path, "/user/list"):
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","userlist":[{"userid":"u1","name":"U","department":[1],"status":1}]}`)
		default:
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	}))
	defer srv.Close()
	var recorded atomic.Int32
	c, err := New(Config{CorpID: "wwpanic", Secret: "s", BaseURL: srv.URL, MaxRetries: -1,
		OnPanic: func(where string, r any) error { recorded.Add(1); return fmt.Errorf("%s: recorded panic %v", where, r) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	testHookTokenFetch = func() { panic("injected into the token fetch") }
	_, err = c.ListDepartments(context.Background(), 0)
	testHookTokenFetch = nil
	if err == nil || !strings.Contains(err.Error(), "injected into the token fetch") || recorded.Load() != 1 {
		t.Fatalf("a call whose token fetch panicked: %v (recorded %d)", err, recorded.Load())
	}

	testHookFetchWorker = func() { panic("injected into a fetch worker") }
	_, err = c.FetchOrg(context.Background(), FetchOptions{})
	testHookFetchWorker = nil
	if err == nil || !strings.Contains(err.Error(), "injected into a fetch worker") || recorded.Load() != 2 {
		t.Fatalf("a fetch whose worker panicked: %v (recorded %d)", err, recorded.Load())
	}

	org, err := c.FetchOrg(context.Background(), FetchOptions{})
	if err != nil || len(org.Users) != 1 {
		t.Fatalf("the fetch after the panics: %v %+v", err, org)
	}
}
