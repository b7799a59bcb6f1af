package corpkit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/org/inbox"
)

// Base is what a platform's corp Type instance holds whatever the platform: its org, the
// org's engine, the inbox of the platform's pushes, and a lifetime every goroutine it
// starts lives under (ended first by Close). A Type embeds it and adds its client.
type Base struct {
	El       *elements.Element
	Platform string // "DingTalk"
	Dir      *org.Directory
	Keys     org.Keys
	Engine   *org.Engine
	// Inbox takes the platform's pushes (nil without an event subscription).
	Inbox *inbox.Inbox
	// InfoFunc is the corp's configuration, never a secret (getCorpInfo, corpData).
	InfoFunc func() map[string]any

	life       context.Context
	endLife    context.CancelFunc
	stopEvents func()
	closers    []func() error
	closeOnce  sync.Once
	closeErr   error
}

// NewBase makes the org of an element and, with events, its inbox; the Type makes the
// engine (Base.Engine) with itself as provider. No I/O.
func NewBase(el *elements.Element, platform, corpID string, roles []org.Role, profile org.Profile, withEvents bool) *Base {
	b := &Base{El: el, Platform: platform}
	b.Dir = org.New(org.Config{Store: el.Store, Name: el.FullName, CorpID: corpID, Roles: roles,
		ConfigPath: el.ConfigPath, Logger: el.Logger, Profile: profile, Recovered: RecoveredBy(el), AuditRetention: el.AuditRetention})
	b.Keys = b.Dir.Keys()
	if withEvents {
		b.Inbox = inbox.New(inbox.Config{Store: el.Store, Keys: b.Keys, Platform: platform, Logger: el.Logger, Recovered: RecoveredBy(el)})
	}
	return b
}

// StartOrg gives the instance its lifetime and starts what the org needs: the engine, the
// audit pruning, the stored org brought up to date, the warnings of grants to undeclared
// roles.
func (b *Base) StartOrg(ctx context.Context) error {
	b.life, b.endLife = context.WithCancel(context.Background())
	b.Engine.Start(b.life)
	b.Dir.KeepAuditPruned(b.life, 0)
	if err := b.Dir.Upgrade(ctx); err != nil {
		return fmt.Errorf("bring the stored org up to date: %w", err)
	}
	b.Dir.WarnUndeclaredGrants()
	return nil
}

// StartEvents starts the inbox's committer and the engine's applier, for an app run as a
// service with an event subscription.
func (b *Base) StartEvents() {
	if b.Inbox == nil || !b.El.Service {
		return
	}
	b.Inbox.Start()
	b.stopEvents = b.Engine.StartEvents(b.Inbox.Wake())
}

// OnClose adds what Close closes after the events stop (the client, the emulator).
func (b *Base) OnClose(fn func() error) { b.closers = append(b.closers, fn) }

// Close ends the lifetime, stops the events and closes what OnClose added.
func (b *Base) Close() error {
	b.closeOnce.Do(func() {
		if b.endLife != nil {
			b.endLife()
		}
		if b.stopEvents != nil {
			b.Inbox.Stop()
			b.stopEvents()
		}
		var errs []error
		for _, fn := range b.closers {
			errs = append(errs, fn())
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

var _ org.Org = (*Base)(nil)

// Directory is the corp's org (org.Org).
func (b *Base) Directory() *org.Directory { return b.Dir }

// DeclaredRoles are the roles of the corp's config (elements.RoleDeclarer).
func (b *Base) DeclaredRoles() ([]string, bool) { return b.Dir.DeclaredRoles(), true }

// WriteLock is the lock the org's writers take (elements.WriteLocker).
func (b *Base) WriteLock() string { return b.Keys.Lock() }

// Sync brings the local org in step with the platform (org.Org).
func (b *Base) Sync(ctx context.Context, dryRun bool) (*org.SyncReport, error) {
	return b.Engine.Sync(ctx, dryRun)
}

// Info is the corp's configuration, never a secret (org.Org).
func (b *Base) Info() map[string]any { return b.InfoFunc() }

// CallbackInbox is the inbox, or the error of a corp with no event subscription.
func (b *Base) CallbackInbox(keys string) (*inbox.Inbox, error) {
	if b.Inbox == nil {
		return nil, elements.Errorf(elements.CodeFailedPrecondition,
			"corp %s takes no %s events: set %s in %s", b.El.FullName, b.Platform, keys, b.El.ConfigPath)
	}
	return b.Inbox, nil
}

// EventMethods are the methods of a corp that takes events: the events set aside, and an
// apply now.
func (b *Base) EventMethods(keys string) []elements.Method {
	return []elements.Method{
		{Name: "getSetAsideEvents", Callable: true, Doc: "the " + b.Platform + " events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}]",
			Call: func(context.Context, elements.Args) (any, error) { return b.Engine.SetAsideEvents() }},
		{Name: "applyEvents", Callable: true, Doc: "apply the " + b.Platform + " events received and not yet applied, now: {applied}",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				if _, err := b.CallbackInbox(keys); err != nil {
					return nil, err
				}
				n, err := b.Engine.ApplyQueued(ctx)
				return map[string]any{"applied": float64(n)}, err
			}},
	}
}

// Properties are the seed's five properties of a corp.
func (b *Base) Properties(authConfig func() map[string]any, authDoc string) []elements.Property {
	return []elements.Property{
		{Name: "title", Get: func() any { return b.El.Title }},
		{Name: "fullName", Get: func() any { return b.El.FullName }},
		{Name: "corpFullName", Doc: "alias of fullName", Get: func() any { return b.El.FullName }},
		{Name: "authConfig", Doc: authDoc, Get: func() any { return authConfig() }},
		{Name: "corpData", Doc: "the org's configuration and counts", Get: func() any {
			counts, err := b.Dir.Counts(context.Background()) // a property: no caller's context
			if err != nil {
				return map[string]any{"error": err.Error()}
			}
			d := b.Info()
			maps.Copy(d, counts)
			return d
		}},
	}
}

// RecoveredBy is how the org of an element reports a panic it caught.
func RecoveredBy(el *elements.Element) func(where string, r any) error {
	if el.App == nil {
		return nil
	}
	return el.App.Recovered
}

// SimulatorSecrets makes the subscription's token and key of a simulated corp from its app
// id and secret: 32 hex digits, and 43 letters and digits (an aes_key as DingTalk and WeCom
// make them). The same for every instance of the corp, so that a kept emulator goes on
// signing what the corp accepts; they never leave the process but to the emulator it runs.
func SimulatorSecrets(platform, appID, secret string) (token, key string) {
	t := sha256.Sum256([]byte("jitrt " + platform + " simulator token\x00" + appID + "\x00" + secret))
	k := sha256.Sum256([]byte("jitrt " + platform + " simulator key\x00" + appID + "\x00" + secret))
	return hex.EncodeToString(t[:16]), strings.TrimRight(base64.StdEncoding.EncodeToString(k[:]), "=")
}

// Platform is what a platform's corp Type gives for the seed's own methods.
type Platform struct {
	// Name is the platform as docs name it ("DingTalk").
	Name string
	// ThirdCorpData is the live org as the platform has it; BulkRegister registers what it
	// returned; Client is getClient's object.
	ThirdCorpData func(ctx context.Context) (any, error)
	BulkRegister  func(ctx context.Context, corpData any) error
	Client        func() (any, error)
}

// SeedMethods are the corp's own methods of the seed for a platform's Type: initCorp,
// syncCorp, getThirdCorpData, bulkRegister, getCorpInfo, getClient.
func (b *Base) SeedMethods(p Platform) []elements.Method {
	return []elements.Method{
		{Name: "initCorp", Callable: true, Doc: "create the local org (roles, root department) and run a first sync",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { _, err := b.Engine.Init(ctx); return nil, err }},
		{Name: "syncCorp", Callable: true, Doc: "sync the org from " + p.Name + "; {dryRun: true} lists the changes and writes nothing",
			Params: []elements.Param{{Name: "dryRun", Kind: elements.KindBool}}, Result: org.SyncReport{},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				rep, err := b.Sync(ctx, a.Bool("dryRun"))
				if err != nil {
					return nil, err
				}
				return org.JSONValue(rep)
			}},
		{Name: "getThirdCorpData", Callable: true, Doc: "the live " + p.Name + " org: {deptDict, userDict} keyed by the platform's ids",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { return p.ThirdCorpData(ctx) }},
		{Name: "bulkRegister", Callable: true, Doc: "register every member of corpData into the local org (idempotent; nobody taken offline)",
			Params: []elements.Param{{Name: "corpData", Kind: elements.KindObject, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return nil, p.BulkRegister(ctx, a["corpData"])
			}},
		{Name: "getCorpInfo", Callable: true, Doc: "the corp's configuration, never the secret",
			Call: func(context.Context, elements.Args) (any, error) { return b.Info(), nil }},
		{Name: "getClient", Doc: "the " + p.Name + " API client of the corp",
			Call: func(context.Context, elements.Args) (any, error) { return p.Client() }},
	}
}

// SharedKey names what the clients of one app on one server share in a process (its token,
// its pacing): the platform, the server, the app and a hash of its secret (never the secret).
func SharedKey(kind, base, appID, secret string) string {
	h := sha256.Sum256([]byte(secret))
	return kind + ":" + base + ":" + appID + ":" + hex.EncodeToString(h[:8])
}
